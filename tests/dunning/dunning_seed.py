"""Rows for the collections tests, written straight to the database (no gateway)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.ids import new_id
from billing.models import (
    Customer,
    Invoice,
    Merchant,
    PaymentAttempt,
    PaymentMethod,
    Plan,
    Subscription,
)

_numbers = itertools.count(1)
CARD_REF = "pm_card_chargeDeclined"  # a sandbox test token, accepted as a method ref


@dataclass
class Installment:
    merchant_id: str
    customer_id: str
    subscription_id: str
    invoice_id: str
    payment_method_id: str


async def set_identity(session: AsyncSession, merchant_id: str) -> None:
    """What every collection message must print (CDC art. 42-A)."""
    await session.execute(
        update(Merchant)
        .where(Merchant.id == merchant_id)
        .values(
            legal_name="Academia Forte Ltda",
            document="11222333000181",
            support_email="ajuda@academiaforte.com.br",
            support_phone="+55 11 4000-1234",
        )
    )


async def seed_installment(
    session: AsyncSession,
    merchant_id: str,
    *,
    due_at: datetime,
    now: datetime,
    total: int = 10000,
    email: str = "ana@example.com",
    collection_method: str = "charge_automatically",
    subscription_status: str = "past_due",
    customer_id: str | None = None,
    locale: str = "pt-BR",
) -> Installment:
    if customer_id is None:
        customer = Customer(
            id=new_id("cus"), merchant_id=merchant_id, email=email, name="Ana Souza",
            phone="+5511988887777", locale=locale, metadata_={}, created_at=now,
            gateway_customer_ref="gcus_test", is_business=False,
        )  # fmt: skip
        session.add(customer)
        await session.flush()
        customer_id = customer.id
    plan = Plan(
        id=new_id("plan"), merchant_id=merchant_id, name="Plano Pro", amount=total,
        currency="BRL", interval="month", interval_count=1, trial_days=0, active=True,
        metadata_={}, created_at=now,
    )  # fmt: skip
    # A customer's card is one row, however many subscriptions it pays (migration 0015).
    method = await session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.customer_id == customer_id,
            PaymentMethod.gateway_ref == CARD_REF,
            PaymentMethod.detached_at.is_(None),
        )
    ) or PaymentMethod(
        id=new_id("pm"), merchant_id=merchant_id, customer_id=customer_id,
        gateway_ref=CARD_REF, type="card", brand="visa", last4="0002",
        is_default=True, created_at=now,
    )  # fmt: skip
    session.add_all([plan, method])
    await session.flush()
    sub = Subscription(
        id=new_id("sub"), merchant_id=merchant_id, customer_id=customer_id, plan_id=plan.id,
        payment_method_id=method.id, status=subscription_status,
        collection_method=collection_method, days_until_due=3, anchor_at=now, period_index=0,
        current_period_start=now, current_period_end=now, cancel_at_period_end=False,
        cycles_billed=1, created_at=now,
    )  # fmt: skip
    session.add(sub)
    await session.flush()
    invoice = Invoice(
        id=new_id("inv"), merchant_id=merchant_id, customer_id=customer_id,
        subscription_id=sub.id, number=1_000_000 + next(_numbers), status="open",
        collection_method=collection_method, currency="BRL", subtotal=total, discount=0,
        late_fee=0, interest=0, total=total, amount_paid=0, due_at=due_at, attempt_count=0,
        created_at=now,
    )  # fmt: skip
    session.add(invoice)
    await session.flush()
    return Installment(merchant_id, customer_id, sub.id, invoice.id, method.id)


async def add_attempt(
    session: AsyncSession,
    inst: Installment,
    *,
    number: int,
    at: datetime,
    status: str = "failed",
    decline_type: str | None = "soft",
    decline_code: str | None = "insufficient_funds",
    initiated_by: str = "automatic",
    payment_method_id: str | None = None,
) -> PaymentAttempt:
    attempt = PaymentAttempt(
        id=new_id("pay"), merchant_id=inst.merchant_id, invoice_id=inst.invoice_id,
        customer_id=inst.customer_id,
        payment_method_id=payment_method_id or inst.payment_method_id,
        attempt_number=number, initiated_by=initiated_by, amount=10000, currency="BRL",
        status=status, idempotency_key=f"test:{inst.invoice_id}:{number}",
        failure_code="card_declined" if status != "succeeded" else None,
        decline_code=decline_code, decline_type=decline_type, attempted_at=at,
        completed_at=at if status != "requires_action" else None,
    )  # fmt: skip
    session.add(attempt)
    # What payments does on an outcome: the retry it planned is consumed, and only a
    # failure (or a step the payer must take) counts as an attempt (payments.outcomes).
    counted = 1 if status in ("failed", "requires_action") else 0
    await session.execute(
        update(Invoice)
        .where(Invoice.id == inst.invoice_id)
        .values(next_payment_attempt=None, attempt_count=Invoice.attempt_count + counted)
    )
    await session.flush()
    return attempt
