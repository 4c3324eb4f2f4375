"""When dunning work is next due, for the sandbox clock (sandbox/due.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.dunning.planner import unplanned_failures
from billing.models import DunningState, Invoice
from billing.sandbox.due import due_source


@due_source("dunning.retries")
async def next_retry(session: AsyncSession, now: datetime) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(func.min(Invoice.next_payment_attempt)).where(Invoice.status == "open")
    )
    return found


@due_source("dunning.unplanned_failures")
async def unplanned_failure(session: AsyncSession, now: datetime) -> datetime | None:
    # A failure the planner has not seen yet is due at once.
    row = (await session.execute(unplanned_failures(1, postgres=False))).first()
    return now if row is not None else None


@due_source("dunning.final_actions")
async def next_final_action(session: AsyncSession, now: datetime) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(func.min(DunningState.final_action_at))
        .join(Invoice, Invoice.id == DunningState.invoice_id)
        .where(
            DunningState.final_action.is_(None),
            DunningState.status.in_(("exhausted", "awaiting_payer")),
            Invoice.status == "open",
        )
    )
    return found
