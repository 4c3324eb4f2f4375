"""Event fan-out job: one webhook delivery per matching endpoint, then the event is dispatched."""

from __future__ import annotations

from sqlalchemy import select

from billing.db import unit_of_work
from billing.jobs import JobContext, job
from billing.models import Event


@job("events.dispatch")
async def dispatch_event(ctx: JobContext, event_id: str) -> bool:
    """Create the event's deliveries and mark it dispatched; False when it already was."""
    from billing.webhooks.deliveries import fan_out

    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        event = await session.scalar(
            select(Event)
            .where(Event.id == event_id, Event.dispatched_at.is_(None))
            .with_for_update()
        )
        if event is None:
            return False
        now = ctx.clock.now()
        # Deliveries are unique per (endpoint, event): a repeated job creates nothing twice.
        await fan_out(session, event, now=now)
        event.dispatched_at = now
        return True
