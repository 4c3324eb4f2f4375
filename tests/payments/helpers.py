"""Rows for payment tests, written directly (independent of the billing engine's API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from billing.db import unit_of_work
from billing.invoices.numbering import take_numbers
from billing.kit.ids import new_id
from billing.models import Customer, Invoice, InvoiceLine, Plan, SandboxEntry, Subscription
from billing.runtime import Runtime
from tests.conftest import MerchantAccount


@dataclass
class Seeded:
    customer_id: str
    subscription_id: str
    invoice_id: str


async def seed_invoice(
    runtime: Runtime,
    merchant: MerchantAccount,
    *,
    amount: int = 4990,
    currency: str = "BRL",
    due_at: datetime | None = None,
    subscription_status: str = "active",
    customer_id: str | None = None,
) -> Seeded:
    """An open charge_automatically invoice of a subscription (customer made if needed)."""
    now = runtime.clock.now()
    async with unit_of_work(runtime.session_factory) as session:
        if customer_id is None:
            customer_id = new_id("cus")
            session.add(
                Customer(
                    id=customer_id,
                    merchant_id=merchant.id,
                    email=f"{customer_id.lower()}@example.com",
                    name="Maria Souza",
                    locale="pt-BR",
                    metadata_={},
                    created_at=now,
                )
            )
        plan = Plan(
            id=new_id("plan"),
            merchant_id=merchant.id,
            name="Mensal",
            amount=amount,
            currency=currency,
            interval="month",
            created_at=now,
        )
        session.add(plan)
        await session.flush()
        sub = Subscription(
            id=new_id("sub"),
            merchant_id=merchant.id,
            customer_id=customer_id,
            plan_id=plan.id,
            status=subscription_status,
            anchor_at=now,
            current_period_start=now,
            # Far ahead: other tests' global billing runs on the shared database leave it be.
            current_period_end=now + timedelta(days=3650),
            created_at=now,
        )
        session.add(sub)
        await session.flush()
        invoice = Invoice(
            id=new_id("inv"),
            merchant_id=merchant.id,
            customer_id=customer_id,
            subscription_id=sub.id,
            number=await take_numbers(session, merchant.id, 1),
            status="open",
            currency=currency,
            subtotal=amount,
            total=amount,
            due_at=due_at or now,
            period_start=now,
            period_end=now + timedelta(days=30),
            created_at=now,
        )
        session.add(invoice)
        await session.flush()
        session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                merchant_id=merchant.id,
                kind="subscription",
                description="Mensal",
                amount=amount,
            )
        )
    return Seeded(customer_id, sub.id, invoice.id)


async def attach(
    client: httpx.AsyncClient, merchant: MerchantAccount, customer_id: str, token: str, **kw: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/customers/{customer_id}/payment_methods",
        json={"token": token, **kw},
        headers=merchant.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def payments_of(
    client: httpx.AsyncClient, merchant: MerchantAccount, invoice_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/payments", params={"invoice_id": invoice_id}, headers=merchant.headers
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return sorted(data, key=lambda p: p["id"])


async def invoice_row(runtime: Runtime, invoice_id: str) -> Invoice:
    async with runtime.session_factory() as session:
        invoice = await session.get(Invoice, invoice_id)
        assert invoice is not None
        return invoice


async def subscription_status(runtime: Runtime, subscription_id: str) -> str:
    async with runtime.session_factory() as session:
        sub = await session.get(Subscription, subscription_id)
        assert sub is not None
        return sub.status


async def sandbox_charges_for(runtime: Runtime, invoice_id: str) -> int:
    """How many charges the sandbox gateway recorded for this invoice (its own books)."""
    async with runtime.session_factory() as session:
        return int(
            await session.scalar(
                select(func.count()).where(
                    SandboxEntry.key.like(f"charge:billing:charge:{invoice_id}:%")
                )
            )
            or 0
        )


async def sandbox_captures_for(runtime: Runtime, invoice_id: str) -> int:
    """Succeeded payments at the sandbox for this invoice."""
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(SandboxEntry.value).where(SandboxEntry.key.like("payment:%"))
        )
        return sum(
            1
            for value in rows
            if value
            and value.get("metadata", {}).get("invoice_id") == invoice_id
            and value.get("status") == "succeeded"
        )
