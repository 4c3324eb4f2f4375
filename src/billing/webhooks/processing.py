"""Applying stored gateway events in batches; failures recorded and retried with backoff.

A batch is one transaction: rows are locked (SKIP LOCKED on PostgreSQL, so several workers
share the inbox) and each row records its outcome in the same transaction as the change
the event caused, so an event is applied exactly once. A failing handler is isolated in a
savepoint (see ``process_due``) so the rest of its batch still applies.
"""

from __future__ import annotations

import asyncio
import random
import traceback
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.db import is_postgres, unit_of_work
from billing.gateways import Gateway
from billing.jobs import PENDING_KEY, JobContext
from billing.models import GatewayEvent
from billing.webhooks.handlers import ASKS_GATEWAY, HANDLERS, GatewayGetter, HandlerContext
from billing.webhooks.succeeded import apply_succeeded_intents

log = structlog.get_logger("billing.webhooks.inbox")

GATEWAY_READERS_AT_ONCE = 8
MAX_ATTEMPTS = 15  # about a day and a half of retries, then an operator's retry
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
DUE_STATUSES = ("received", "failed")


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … doubling up to 6 h, with ±10 % jitter so retries spread out."""
    base = min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)
    return base * (0.9 + random.random() / 5)


class _Gateways:
    """One gateway per merchant per batch, built only if a handler asks for it."""

    def __init__(self, ctx: JobContext, session: AsyncSession) -> None:
        self.ctx, self.session = ctx, session
        self.cache: dict[str, Gateway | None] = {}

    def getter(self, merchant_id: str) -> GatewayGetter:
        async def get() -> Gateway | None:
            if merchant_id not in self.cache:
                from billing.payments.gateway_registry import GatewayNotConfigured, merchant_gateway

                try:
                    gateway, _ = await merchant_gateway(self.session, self.ctx, merchant_id)
                except GatewayNotConfigured:
                    gateway = None
                self.cache[merchant_id] = gateway
            return self.cache[merchant_id]

        return get


class _HandlerFailed(Exception):
    """A handler raised during an optimistic batch: redo the batch event by event."""


async def process_due(ctx: JobContext, *, ids: list[str] | None = None, limit: int = 500) -> int:
    """Process up to ``limit`` due inbox rows (or just ``ids``); returns how many were handled.

    A batch first runs without savepoints (two round trips fewer per event); if any handler
    fails, that transaction is rolled back and the batch runs again with one savepoint per
    event, so the failure is recorded on its row and the other events still apply. Events
    whose handler may ask the gateway are then applied each in a transaction of its own.
    """
    if ids is not None and len(ids) == 1:
        return (await _process_batch(ctx, ids=ids, limit=limit, isolate=True))[0]
    try:
        handled, deferred = await _process_batch(
            ctx, ids=ids, limit=limit, isolate=False, defer=True
        )
    except _HandlerFailed:
        handled, deferred = await _process_batch(
            ctx, ids=ids, limit=limit, isolate=True, defer=True
        )
    return handled + await _each_on_its_own(ctx, deferred)


async def _each_on_its_own(ctx: JobContext, ids: list[str]) -> int:
    """Events whose handler may ask the gateway, each in a transaction of its own, a few
    at once (one at a time on SQLite, whose writers take turns anyway)."""
    gate = asyncio.Semaphore(1 if ctx.settings.is_sqlite else GATEWAY_READERS_AT_ONCE)

    async def one(event_id: str) -> int:
        async with gate:
            return (await _process_batch(ctx, ids=[event_id], limit=1, isolate=True))[0]

    return sum(await asyncio.gather(*(one(i) for i in ids)))


async def _process_batch(
    ctx: JobContext, *, ids: list[str] | None, limit: int, isolate: bool, defer: bool = False
) -> tuple[int, list[str]]:
    """(events handled, events left for a transaction of their own). With ``defer``, the
    events whose handler may ask the gateway are left: a gateway call would hold the batch
    (its locks, every other event's commit)."""
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        now = ctx.clock.now()
        query = select(GatewayEvent).where(
            GatewayEvent.status.in_(DUE_STATUSES), GatewayEvent.next_attempt_at <= now
        )
        if ids is not None:
            query = query.where(GatewayEvent.id.in_(ids))
        query = query.order_by(GatewayEvent.received_at, GatewayEvent.id).limit(limit)
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        rows = (await session.scalars(query)).all()
        deferred = [r.id for r in rows if r.type in ASKS_GATEWAY] if defer else []
        if deferred:
            rows = [r for r in rows if r.type not in ASKS_GATEWAY]
        gateways = _Gateways(ctx, session)
        if not isolate:
            try:
                done = await apply_succeeded_intents(session, rows, now=now)
            except Exception as exc:
                # Event by event, with savepoints, the failing one is found and recorded.
                raise _HandlerFailed from exc
            for row in rows:
                if row.id in done:
                    row.attempts += 1
                    _mark_handled(row, done[row.id], now)
            rows_left = [r for r in rows if r.id not in done]
        else:
            rows_left = list(rows)
        for row in rows_left:
            await process_one(
                session, row, now=now, gateway=gateways.getter(row.merchant_id), isolate=isolate
            )
    return len(rows), deferred


def _mark_handled(row: GatewayEvent, outcome: str | None, now: datetime) -> None:
    row.status = "processed" if outcome is not None else "ignored"
    row.outcome = (outcome or "ignored by its handler")[:300]
    row.processed_at, row.next_attempt_at, row.last_error = now, None, None


async def process_one(
    session: AsyncSession,
    row: GatewayEvent,
    *,
    now: datetime,
    gateway: GatewayGetter,
    isolate: bool = True,
) -> None:
    """Apply one event; without ``isolate`` a handler error aborts the whole batch."""
    row.attempts += 1
    handler = HANDLERS.get(row.type)
    if handler is None:
        row.status, row.processed_at, row.next_attempt_at = "ignored", now, None
        row.outcome = "no handler for this event type"
        return
    pending = session.info.setdefault(PENDING_KEY, [])
    queued = len(pending)
    context = HandlerContext(
        session=session,
        merchant_id=row.merchant_id,
        now=now,
        gateway=gateway,
        event=row.payload,
    )
    try:
        if isolate:
            async with session.begin_nested():
                outcome = await handler(context)
        else:
            outcome = await handler(context)
    except Exception as exc:
        if not isolate:
            raise _HandlerFailed from exc
        # Jobs buffered by the rolled-back work must not run either.
        del pending[queued:]
        row.status = "failed"
        row.last_error = traceback.format_exc()[-8000:]
        row.next_attempt_at = (
            now + retry_delay(row.attempts) if row.attempts < MAX_ATTEMPTS else None
        )
        log.warning(
            "gateway_event_failed",
            inbox_id=row.id,
            event_id=row.event_id,
            type=row.type,
            attempts=row.attempts,
        )
        return
    _mark_handled(row, outcome, now)
