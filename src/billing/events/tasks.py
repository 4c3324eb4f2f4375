"""Event fan-out job."""

from __future__ import annotations

from sqlalchemy import update

from billing.db import unit_of_work
from billing.jobs import JobContext, job
from billing.models import Event


@job("events.dispatch")
async def dispatch_event(ctx: JobContext, event_id: str) -> bool:
    """Mark the event dispatched; returns False when it already was (a repeated job)."""
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        result = await session.execute(
            update(Event)
            .where(Event.id == event_id, Event.dispatched_at.is_(None))
            .values(dispatched_at=ctx.clock.now())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
