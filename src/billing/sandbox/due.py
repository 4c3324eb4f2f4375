"""Where work becomes due: the registry the sandbox clock steps through.

Each part of the system that schedules work in the database (billing periods, payment
retries, ruler steps, webhook deliveries) registers one function returning the earliest
instant something of its kind is due, or None. A time at or before ``now`` means "due
already". The clock visits those instants in order, so every piece of work runs at its
own time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Subscription
from billing.subscriptions.state import RENEWING

DueSource = Callable[[AsyncSession, datetime], Awaitable[datetime | None]]
DUE_SOURCES: dict[str, DueSource] = {}


def due_source(name: str) -> Callable[[DueSource], DueSource]:
    """Register ``async def fn(session, now) -> datetime | None`` under ``name``."""

    def register(func: DueSource) -> DueSource:
        DUE_SOURCES[name] = func
        return func

    return register


@due_source("billing.renewals")
async def next_renewal(session: AsyncSession, now: datetime) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(func.min(Subscription.current_period_end)).where(Subscription.status.in_(RENEWING))
    )
    return found


async def due_times(session: AsyncSession, now: datetime) -> list[datetime]:
    times = []
    for source in DUE_SOURCES.values():
        found = await source(session, now)
        if found is not None:
            times.append(found)
    return times
