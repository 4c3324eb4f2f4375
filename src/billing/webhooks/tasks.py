"""Jobs: apply stored gateway events, send merchant webhooks, and the sweeps behind both.

The sweeps make the database the source of truth: a lost "look now" job only delays work
until the next sweep.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from billing.db import unit_of_work
from billing.jobs import JobContext, job, periodic
from billing.webhooks import deliveries
from billing.webhooks.intake import PROCESS_BATCH_JOB
from billing.webhooks.processing import process_due

INBOX_BATCH = 500
DELIVERY_BATCH = 200
SEND_CONCURRENCY = 20


@job("webhooks.process_gateway_event")
async def process_gateway_event(ctx: JobContext, inbox_id: str) -> int:
    return await process_due(ctx, ids=[inbox_id], limit=1)


@job(PROCESS_BATCH_JOB)
async def process_gateway_events(ctx: JobContext, inbox_ids: list[str]) -> int:
    """The events one inbox commit stored (see intake.py), applied as one batch."""
    total = 0
    for start in range(0, len(inbox_ids), INBOX_BATCH):
        total += await process_due(ctx, ids=inbox_ids[start : start + INBOX_BATCH])
    return total


@periodic("webhooks.inbox_sweep", every=timedelta(seconds=5))
async def inbox_sweep(ctx: JobContext) -> int:
    """Everything due: new events whose job was lost, and failed ones whose retry time came."""
    total = 0
    while True:
        handled = await process_due(ctx, limit=INBOX_BATCH)
        total += handled
        if handled < INBOX_BATCH:
            return total


def _client(ctx: JobContext) -> httpx.AsyncClient | None:
    client = ctx.extra.get("webhooks.http_client")
    return client if isinstance(client, httpx.AsyncClient) else None


async def deliver_one(ctx: JobContext, delivery_id: str, client: httpx.AsyncClient) -> str:
    runtime = ctx.extra.get("runtime")
    box = runtime.secret_box if runtime is not None else None
    if box is None:
        from billing.kit.secrets import SecretBox

        box = SecretBox(ctx.settings.secret_key)
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        claimed = await deliveries.claim(session, delivery_id, box=box, now=ctx.clock.now())
    if claimed is None:
        return "skipped"
    result = await deliveries.send(claimed, client)
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        return await deliveries.record_result(session, claimed, result, now=ctx.clock.now())


@job(deliveries.DELIVER_JOB)
async def deliver(ctx: JobContext, delivery_id: str) -> str:
    shared = _client(ctx)
    if shared is not None:
        return await deliver_one(ctx, delivery_id, shared)
    async with httpx.AsyncClient(follow_redirects=False) as client:
        return await deliver_one(ctx, delivery_id, client)


@periodic("webhooks.delivery_sweep", every=timedelta(seconds=5))
async def delivery_sweep(ctx: JobContext) -> int:
    """Send every due delivery, a bounded number at a time."""
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        due = await deliveries.due_deliveries(session, now=ctx.clock.now(), limit=DELIVERY_BATCH)
    if not due:
        return 0
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(delivery_id: str, client: httpx.AsyncClient) -> None:
        async with gate:
            await deliver_one(ctx, delivery_id, client)

    async with httpx.AsyncClient(follow_redirects=False) as client:
        await asyncio.gather(*(one(d, client) for d, _ in due))
    return len(due)


@periodic("webhooks.reconcile_pending_payments", every=timedelta(minutes=5))
async def reconcile_pending_payments(ctx: JobContext) -> int:
    """Pending attempts re-read from the gateway 5 min, 1 h and 1 d after they were made."""
    from billing.webhooks.reconcile import reconcile_due

    return await reconcile_due(ctx)


# The sandbox clock steps to webhook work too (deliveries, inbox retries, re-reads).
import billing.webhooks.due  # noqa: E402, F401
