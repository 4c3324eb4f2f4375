"""``/v1/customers/{id}/history``, ``/notes`` and ``/promises``."""

from __future__ import annotations

from litestar import Controller, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection import promises
from billing.history import service
from billing.history.schemas import History, NoteEntry, NoteIn, PromiseEntry, PromiseIn
from billing.kit.clock import Clock
from billing.models import Merchant


class CustomerHistoryController(Controller):
    path = "/v1/customers/{customer_id:str}"
    tags = ["history"]

    @get("/history")
    async def history(
        self,
        customer_id: str,
        merchant: Merchant,
        db_session: AsyncSession,
        limit: int = 100,
        starting_after: str | None = None,
    ) -> History:
        entries, more = await service.customer_history(
            db_session, merchant.id, customer_id, limit=limit, starting_after=starting_after
        )
        return History(entries, more)

    @post("/notes", status_code=201)
    async def add_note(
        self,
        customer_id: str,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
        data: NoteIn,
    ) -> NoteEntry:
        note = await service.add_note(
            db_session, merchant.id, customer_id, data.body, now=clock.now()
        )
        return NoteEntry(note.id, note.created_at, note.body)

    @post("/promises", status_code=201)
    async def add_promise(
        self,
        customer_id: str,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
        data: PromiseIn,
    ) -> PromiseEntry:
        p = await promises.create_promise(
            db_session,
            merchant,
            customer_id,
            amount=data.amount,
            promised_date=data.date,
            now=clock.now(),
        )
        return PromiseEntry(
            p.id, p.created_at, p.amount, p.currency, p.promised_date, p.status, p.resolved_at
        )
