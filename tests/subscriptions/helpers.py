"""Helpers for subscription tests: plans, customers, subscriptions through the API."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from tests.conftest import MerchantAccount

from billing.runtime import Runtime
from billing.subscriptions.renewal import RunResult, run_billing


async def make_plan(
    client: AsyncClient, merchant: MerchantAccount, **fields: Any
) -> dict[str, Any]:
    body = {"name": "Mensal", "amount": 9990, "currency": "BRL", "interval": "month", **fields}
    response = await client.post("/v1/plans", json=body, headers=merchant.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def make_customer(
    client: AsyncClient, merchant: MerchantAccount, email: str = "ana@example.com"
) -> dict[str, Any]:
    response = await client.post(
        "/v1/customers", json={"email": email, "name": "Ana"}, headers=merchant.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def subscribe(
    client: AsyncClient,
    merchant: MerchantAccount,
    plan: dict[str, Any],
    customer: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    customer = customer or await make_customer(client, merchant)
    body = {
        "customer_id": customer["id"],
        "plan_id": plan["id"],
        "collection_method": "send_invoice",
        **fields,
    }
    response = await client.post("/v1/subscriptions", json=body, headers=merchant.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def invoices_of(
    client: AsyncClient, merchant: MerchantAccount, subscription_id: str
) -> list[dict[str, Any]]:
    """All invoices of a subscription, oldest first."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"subscription_id": subscription_id, "limit": 100}
        if cursor:
            params["starting_after"] = cursor
        page = (await client.get("/v1/invoices", params=params, headers=merchant.headers)).json()
        found.extend(page["data"])
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    return sorted(found, key=lambda inv: inv["number"])


async def get_sub(client: AsyncClient, merchant: MerchantAccount, sub_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/subscriptions/{sub_id}", headers=merchant.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def bill(runtime: Runtime, **kwargs: Any) -> RunResult:
    return await run_billing(runtime.session_factory, runtime.clock, **kwargs)


async def seed_due_subscriptions(
    runtime: Runtime, merchant_id: str, count: int, *, period_end: Any
) -> list[str]:
    """``count`` monthly send_invoice subscriptions whose period ends at ``period_end``,
    inserted set-based (as a bulk import would)."""
    from datetime import timedelta

    from sqlalchemy import insert

    from billing.db import unit_of_work
    from billing.kit.ids import new_id
    from billing.models import Customer, Plan, Subscription

    start = period_end - timedelta(days=31)
    plan_id = new_id("plan")
    customers = [new_id("cus") for _ in range(count)]
    subs = [new_id("sub") for _ in range(count)]
    async with unit_of_work(runtime.session_factory) as session:
        await session.execute(
            insert(Plan),
            [
                {
                    "id": plan_id,
                    "merchant_id": merchant_id,
                    "name": "Mensal",
                    "amount": 5000,
                    "currency": "BRL",
                    "interval": "month",
                    "interval_count": 1,
                    "trial_days": 0,
                    "billing_cycles": None,
                    "active": True,
                    "metadata_": {},
                    "created_at": start,
                }
            ],
        )
        await session.execute(
            insert(Customer),
            [
                {
                    "id": cid,
                    "merchant_id": merchant_id,
                    "email": f"c{i}@example.com",
                    "name": f"C {i}",
                    "is_business": False,
                    "locale": "pt-BR",
                    "metadata_": {},
                    "created_at": start,
                }
                for i, cid in enumerate(customers)
            ],
        )
        await session.execute(
            insert(Subscription),
            [
                {
                    "id": sid,
                    "merchant_id": merchant_id,
                    "customer_id": cid,
                    "plan_id": plan_id,
                    "status": "active",
                    "collection_method": "send_invoice",
                    "days_until_due": 3,
                    "anchor_at": start,
                    "period_index": 0,
                    "current_period_start": start,
                    "current_period_end": period_end,
                    "cancel_at_period_end": False,
                    "cycles_billed": 1,
                    "pending_credit": 0,
                    "created_at": start,
                }
                for sid, cid in zip(subs, customers, strict=True)
            ],
        )
    return subs
