"""Group commit for the gateway event inbox: concurrent deliveries share one INSERT and COMMIT.

A gateway delivers many events at once (Stripe sends in parallel, retries in bursts). Giving
each its own transaction costs a pool checkout, BEGIN, INSERT and COMMIT per event, plus a
PostgreSQL connection per request in flight beyond the pool (those are opened and closed per
request). Instead each request hands its verified event to the process's ``InboxWriter`` and
waits: a flush takes everything waiting (up to ``max_batch``), inserts it with one
``INSERT … ON CONFLICT DO NOTHING RETURNING``, commits, and only then answers every waiter.

Invariant 4 is unchanged: a waiter is answered 2xx only after the transaction holding its
row has committed; if the flush fails, every waiter of that batch gets the error (5xx, the
gateway retries) and nothing of the batch is stored. A repeated event id — in the same batch,
in a concurrent batch, or long stored — gets the existing row's id and ``created=False``.

No job per event: after each commit one "look now" job carries the batch's new inbox ids
(the database stays the source of truth; the 5 s inbox sweep covers a lost job).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.db import READ_ONLY
from billing.jobs import enqueue_after_commit, flush_after_commit
from billing.kit.ids import new_id
from billing.models import GatewayEvent
from billing.runtime import Runtime
from billing.webhooks import inbox

log = structlog.get_logger("billing.webhooks.intake")

PROCESS_BATCH_JOB = "webhooks.process_gateway_events"


@dataclass
class _Waiting:
    values: dict[str, Any]
    future: asyncio.Future[tuple[str, bool]]


def inbox_values(
    *, merchant_id: str, provider: str, event: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The inbox row for one verified event."""
    livemode = event.get("livemode")
    return {
        "id": new_id("gwe"),
        "merchant_id": merchant_id,
        "provider": provider,
        "event_id": str(event["id"])[:255],
        "type": str(event["type"])[:120],
        "livemode": livemode if isinstance(livemode, bool) else None,
        "payload": event,
        "status": "received",
        "attempts": 0,
        "next_attempt_at": now,
        "received_at": now,
    }


async def insert_events(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> list[tuple[str, bool]]:
    """Insert inbox rows unless (provider, event id) exists; (inbox id, created) per row.

    Rows repeating an event id earlier in ``rows`` are answered with the earlier row's id.
    """
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        first.setdefault((row["provider"], row["event_id"]), row)
    unique = list(first.values())
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # ON CONFLICT DO NOTHING: a concurrent delivery of the same event waits for the other
    # transaction and then inserts nothing, instead of failing the whole batch.
    # executemany (SQLAlchemy's "insertmanyvalues": one multi-row statement per page) with a
    # statement compiled once and cached, where .values(rows) compiled anew per batch size.
    connection = await session.connection()
    inserted = {
        event_id: inbox_id
        for inbox_id, event_id in (
            await connection.execute(
                dialect.insert(GatewayEvent.__table__)
                .on_conflict_do_nothing(index_elements=["provider", "event_id"])
                .returning(GatewayEvent.__table__.c.id, GatewayEvent.__table__.c.event_id),
                unique,
            )
        ).all()
    }
    existing: dict[tuple[str, str], str] = {}
    missing = [r for r in unique if r["event_id"] not in inserted]
    for provider in {r["provider"] for r in missing}:
        found = await session.execute(
            select(GatewayEvent.event_id, GatewayEvent.id).where(
                GatewayEvent.provider == provider,
                GatewayEvent.event_id.in_([r["event_id"] for r in missing]),
            )
        )
        existing.update({(provider, e): i for e, i in found.all()})
    answers: list[tuple[str, bool]] = []
    for row in rows:
        key = (row["provider"], row["event_id"])
        leader = first[key]
        if leader is row and row["event_id"] in inserted:
            answers.append((inserted[row["event_id"]], True))
        else:
            answers.append((inserted.get(row["event_id"]) or existing.get(key, ""), False))
    return answers


class InboxWriter:
    """One per process: batches waiting inbox rows into shared transactions."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        max_batch: int = 500,
        flushers: int = 2,
    ) -> None:
        self.session_factory = session_factory
        self.max_batch = max_batch
        # Two flushes in flight: one commits (waits on the WAL flush) while the next inserts.
        self.flushers = flushers
        self.running = 0
        self.waiting: list[_Waiting] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def store(self, values: dict[str, Any]) -> tuple[str, bool]:
        future: asyncio.Future[tuple[str, bool]] = asyncio.get_running_loop().create_future()
        self.waiting.append(_Waiting(values, future))
        if self.running < self.flushers:
            self.running += 1
            task = asyncio.get_running_loop().create_task(self._flush_while_waiting())
            # The loop keeps only a weak reference to a task: hold it until it is done.
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await future

    async def _flush_while_waiting(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = (
                    self.waiting[: self.max_batch],
                    self.waiting[self.max_batch :],
                )
                await self._flush(batch)
        finally:
            self.running -= 1

    async def _flush(self, batch: list[_Waiting]) -> None:
        try:
            async with self.session_factory() as session:
                try:
                    answers = await insert_events(session, [w.values for w in batch])
                    created = [inbox_id for inbox_id, new in answers if new]
                    if created:
                        enqueue_after_commit(
                            session,
                            PROCESS_BATCH_JOB,
                            job_id=f"gwe:{created[0]}:{len(created)}",
                            inbox_ids=created,
                        )
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
                # Stored and committed: the answer no longer depends on the queue.
                for waiting, answer in zip(batch, answers, strict=True):
                    if not waiting.future.done():
                        waiting.future.set_result(answer)
                try:
                    await flush_after_commit(session)
                except Exception:
                    # The rows are due in the inbox; the sweep applies them within seconds.
                    log.warning("inbox_look_now_job_not_queued", events=len(created), exc_info=True)
        except BaseException as exc:
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise


SECRETS_CACHE = "webhooks.stripe_secrets"
SECRETS_LOOKUPS = "webhooks.stripe_secret_lookups"
INBOX_WRITER = "webhooks.inbox_writer"


def inbox_writer(runtime: Runtime) -> InboxWriter:
    """The process's writer (one per runtime, made on first use)."""
    writer = runtime.extra.get(INBOX_WRITER)
    if not isinstance(writer, InboxWriter):
        writer = runtime.extra[INBOX_WRITER] = InboxWriter(runtime.session_factory)
    return writer


async def stripe_secrets(runtime: Runtime, merchant_id: str) -> list[str]:
    """The merchant's Stripe endpoint secrets, cached per process (see inbox.py)."""
    cache = runtime.extra.setdefault(SECRETS_CACHE, {})
    found = inbox.cached_secrets(cache, merchant_id)
    if found is not None:
        return found
    # One lookup per merchant at a time: a burst after start-up (or after the cache entry
    # expires) waits for it instead of taking a connection per request.
    lookups: dict[str, asyncio.Task[list[str]]] = runtime.extra.setdefault(SECRETS_LOOKUPS, {})
    task = lookups.get(merchant_id)
    if task is None:
        task = lookups[merchant_id] = asyncio.create_task(_lookup_secrets(runtime, merchant_id))
        task.add_done_callback(lambda _: lookups.pop(merchant_id, None))
    return await asyncio.shield(task)


async def _lookup_secrets(runtime: Runtime, merchant_id: str) -> list[str]:
    async with runtime.session_factory() as session:
        await session.connection(execution_options={READ_ONLY: True})
        return await inbox.stripe_endpoint_secrets(
            session,
            runtime.secret_box,
            runtime.settings,
            merchant_id,
            cache=runtime.extra.setdefault(SECRETS_CACHE, {}),
        )


async def request_now(runtime: Runtime) -> datetime:
    """The time for a request without a transaction (a simulated clock lives in the DB)."""
    if runtime.clock.simulated:
        async with runtime.session_factory() as session:
            await session.connection(execution_options={READ_ONLY: True})
            return await runtime.clock.sync(session)
    return runtime.clock.now()
