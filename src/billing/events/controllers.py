from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get
from sqlalchemy.ext.asyncio import AsyncSession

from billing.events import service
from billing.models import Event, Merchant


class EventOut(msgspec.Struct):
    id: str
    type: str
    data: dict[str, Any]
    created_at: datetime
    dispatched: bool

    @classmethod
    def of(cls, e: Event) -> EventOut:
        return cls(e.id, e.type, e.data, e.created_at, e.dispatched_at is not None)


class EventList(msgspec.Struct):
    data: list[EventOut]
    has_more: bool


class EventController(Controller):
    path = "/v1/events"
    tags = ["events"]

    @get("/")
    async def list_events(
        self,
        merchant: Merchant,
        db_session: AsyncSession,
        limit: int = 20,
        starting_after: str | None = None,
        type: str | None = None,
    ) -> EventList:
        rows, more = await service.list_events(
            db_session, merchant.id, type=type, limit=limit, starting_after=starting_after
        )
        return EventList([EventOut.of(e) for e in rows], more)

    @get("/{event_id:str}")
    async def show(self, event_id: str, merchant: Merchant, db_session: AsyncSession) -> EventOut:
        return EventOut.of(await service.get_event(db_session, merchant.id, event_id))
