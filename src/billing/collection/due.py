"""When ruler work is next due, for the sandbox clock (sandbox/due.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.quiet_hours import ruler_step_time
from billing.collection.ruler import (
    merchants_with_open_installments,
    ruler_settings,
    step_threshold,
)
from billing.models import CollectionMessage, Invoice, PaymentPromise
from billing.sandbox.due import due_source


@due_source("collection.ruler_steps")
async def next_ruler_step(session: AsyncSession, now: datetime) -> datetime | None:
    """The first step time after ``now`` of any open installment: per merchant and step,
    the earliest installment that has not reached that step yet."""
    found: list[datetime] = []
    merchants = await merchants_with_open_installments(session)
    for merchant_id, (policy, tz) in (await ruler_settings(session, merchants)).items():
        for offset in {s.offset_days for s in policy.steps}:
            due_at = await session.scalar(
                select(func.min(Invoice.due_at)).where(
                    Invoice.merchant_id == merchant_id,
                    Invoice.status == "open",
                    Invoice.total > Invoice.amount_paid,
                    Invoice.due_at >= step_threshold(now, offset, tz, policy.send_at),
                )
            )
            if due_at is not None:
                found.append(ruler_step_time(due_at, offset, tz, policy.send_at))
    later = [t for t in found if t > now]
    return min(later) if later else None


@due_source("collection.deliveries")
async def next_delivery(session: AsyncSession, now: datetime) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(func.min(CollectionMessage.deliver_at)).where(CollectionMessage.status == "pending")
    )
    return found


@due_source("collection.promises")
async def next_promise_end(session: AsyncSession, now: datetime) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(func.min(PaymentPromise.expires_at)).where(PaymentPromise.status == "pending")
    )
    return found
