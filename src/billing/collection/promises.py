"""Promises to pay: a promise pauses the ruler for its customer until its date.

Kept: the customer owes nothing overdue any more (checked on every ruler run, so the
ruler resumes as soon as it is paid). Broken: the end of the promised day (merchant's
zone) passes with debt still overdue; it is recorded (history, event
``customer.promise_broken``) and the ruler resumes at the installment's current step.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.kit.errors import NotFound, ProblemError
from billing.kit.ids import new_id
from billing.models import Customer, Invoice, Merchant, PaymentPromise
from billing.subscriptions.periods import local_to_utc, to_local

MAX_PROMISE_DAYS = 90


async def get_customer(session: AsyncSession, merchant_id: str, customer_id: str) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.merchant_id == merchant_id)
    )
    if customer is None:
        raise NotFound(f"No customer {customer_id}")
    return customer


async def create_promise(
    session: AsyncSession,
    merchant: Merchant,
    customer_id: str,
    *,
    amount: int,
    promised_date: date,
    now: datetime,
) -> PaymentPromise:
    await get_customer(session, merchant.id, customer_id)
    today = to_local(now, merchant.timezone).date()
    errors = []
    if amount <= 0:
        errors.append({"field": "amount", "message": "a positive amount in minor units"})
    if promised_date < today:
        errors.append({"field": "date", "message": "must not be in the past"})
    elif promised_date > today + timedelta(days=MAX_PROMISE_DAYS):
        errors.append({"field": "date", "message": f"at most {MAX_PROMISE_DAYS} days ahead"})
    if errors:
        raise ProblemError(errors[0]["message"], status=422, code="validation_error", errors=errors)
    # One open promise per customer: the newest replaces an earlier pending one.
    await session.execute(
        update(PaymentPromise)
        .where(
            PaymentPromise.merchant_id == merchant.id,
            PaymentPromise.customer_id == customer_id,
            PaymentPromise.status == "pending",
        )
        .values(status="replaced", resolved_at=now)
        .execution_options(synchronize_session=False)
    )
    promise = PaymentPromise(
        id=new_id("prom"),
        merchant_id=merchant.id,
        customer_id=customer_id,
        amount=amount,
        currency=merchant.currency,
        promised_date=promised_date,
        expires_at=local_to_utc(
            datetime.combine(promised_date + timedelta(days=1), time(0)), merchant.timezone
        ),
        status="pending",
        created_at=now,
    )
    session.add(promise)
    await session.flush()
    return promise


def _overdue_debt(now: datetime):  # type: ignore[no-untyped-def]
    return exists().where(
        Invoice.merchant_id == PaymentPromise.merchant_id,
        Invoice.customer_id == PaymentPromise.customer_id,
        Invoice.status == "open",
        Invoice.total > Invoice.amount_paid,
        Invoice.due_at <= now,
    )


async def resolve_promises(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """Mark kept and broken promises; returns (kept, broken)."""
    kept = await session.execute(
        update(PaymentPromise)
        .where(PaymentPromise.status == "pending", ~_overdue_debt(now))
        .values(status="kept", resolved_at=now)
        .execution_options(synchronize_session=False)
    )
    broken = (
        await session.scalars(
            select(PaymentPromise)
            .where(PaymentPromise.status == "pending", PaymentPromise.expires_at <= now)
            .limit(1000)
        )
    ).all()
    for promise in broken:
        promise.status, promise.resolved_at = "broken", now
        await record_event(
            session,
            promise.merchant_id,
            "customer.promise_broken",
            {
                "promise_id": promise.id,
                "customer_id": promise.customer_id,
                "amount": promise.amount,
                "currency": promise.currency,
                "date": promise.promised_date.isoformat(),
            },
            now=now,
        )
    await session.flush()
    return int(kept.rowcount or 0), len(broken)  # type: ignore[attr-defined]
