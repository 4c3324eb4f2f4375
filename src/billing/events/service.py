"""Recording events in the same transaction as the change they describe."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.jobs import enqueue_after_commit
from billing.kit.errors import NotFound
from billing.kit.ids import new_id
from billing.kit.pagination import fetch_page
from billing.models import Event


async def record_event(
    session: AsyncSession,
    merchant_id: str,
    type: str,
    data: dict[str, Any],
    *,
    now: datetime,
    flush: bool = True,
) -> Event:
    event = Event(id=new_id("evt"), merchant_id=merchant_id, type=type, data=data, created_at=now)
    session.add(event)
    if flush:  # batch writers (the charging sweep) let the unit of work insert them together
        await session.flush()
    # Fan-out (webhook deliveries) happens in a job, after this transaction commits.
    enqueue_after_commit(
        session, "events.dispatch", job_id=f"dispatch:{event.id}", event_id=event.id
    )
    return event


async def get_event(session: AsyncSession, merchant_id: str, event_id: str) -> Event:
    event = await session.scalar(
        select(Event).where(Event.id == event_id, Event.merchant_id == merchant_id)
    )
    if event is None:
        raise NotFound(f"No event {event_id}")
    return event


async def list_events(
    session: AsyncSession,
    merchant_id: str,
    *,
    type: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[Sequence[Event], bool]:
    query = select(Event).where(Event.merchant_id == merchant_id)
    if type:
        query = query.where(Event.type == type)
    return await fetch_page(session, query, Event.id, limit=limit, starting_after=starting_after)
