"""When webhook work is next due, for the sandbox clock (sandbox/due.py) to step to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import GatewayEvent, PaymentAttempt, PaymentReconciliation
from billing.sandbox.due import due_source
from billing.webhooks.deliveries import next_due_at
from billing.webhooks.processing import DUE_STATUSES
from billing.webhooks.reconcile import PENDING, SCHEDULE


@due_source("webhooks.deliveries")
async def next_delivery(session: AsyncSession, now: datetime) -> datetime | None:
    return await next_due_at(session)


@due_source("webhooks.inbox")
async def next_inbox_retry(session: AsyncSession, now: datetime) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(func.min(GatewayEvent.next_attempt_at)).where(GatewayEvent.status.in_(DUE_STATUSES))
    )
    return found


@due_source("webhooks.reconciliation")
async def next_reconciliation(session: AsyncSession, now: datetime) -> datetime | None:
    scheduled: datetime | None = await session.scalar(
        select(func.min(PaymentReconciliation.next_check_at))
    )
    first: datetime | None = await session.scalar(
        select(func.min(PaymentAttempt.attempted_at))
        .outerjoin(PaymentReconciliation, PaymentReconciliation.attempt_id == PaymentAttempt.id)
        .where(
            PaymentAttempt.status.in_(PENDING),
            PaymentAttempt.gateway_ref.is_not(None),
            PaymentReconciliation.attempt_id.is_(None),
        )
    )
    times = [t for t in (scheduled, first + SCHEDULE[0] if first else None) if t is not None]
    return min(times) if times else None
