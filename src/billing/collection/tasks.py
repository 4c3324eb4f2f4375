"""The ruler's sweeps and the delivery job."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from billing.collection import delivery
from billing.collection import due as _due  # noqa: F401  (registers the sandbox due sources)
from billing.collection.promises import resolve_promises
from billing.collection.ruler import queue_due_steps
from billing.db import unit_of_work
from billing.jobs import JobContext, enqueue_after_commit, job, periodic
from billing.models import CollectionMessage
from billing.notifications.channels import DeliveryFailed

DELIVER_JOB = "collection.deliver_message"
BATCH = 5000
MAX_BATCHES = 200


@periodic("collection.run_ruler", every=timedelta(minutes=1))
async def run_ruler(ctx: JobContext) -> dict[str, int]:
    """Resolve promises (which pause the ruler), then queue the steps due now."""
    async with unit_of_work(ctx.session_factory) as session:
        now = await ctx.clock.sync(session)
        kept, broken = await resolve_promises(session, now)
        queued = await queue_due_steps(session, now)
    enqueued = await deliver_due(ctx)
    return {"kept": kept, "broken": broken, "queued": queued, **enqueued}


@periodic("collection.deliver_due", every=timedelta(minutes=1))
async def deliver_due(ctx: JobContext) -> dict[str, int]:
    """Hand every pending message whose time has come to a delivery job."""
    enqueued = 0
    last = ""
    for _ in range(MAX_BATCHES):
        async with unit_of_work(ctx.session_factory) as session:
            now = await ctx.clock.sync(session)
            query = (
                select(CollectionMessage.id, CollectionMessage.attempts)
                .where(
                    CollectionMessage.status == "pending",
                    CollectionMessage.deliver_at <= now,
                    CollectionMessage.id > last,
                )
                .order_by(CollectionMessage.id)
                .limit(BATCH)
            )
            # No row locks: the job id dedupes a message enqueued twice, and the delivery
            # job locks the row itself and re-checks it (locking 100k rows here only to
            # enqueue them cost more than the rest of the ruler).
            rows = (await session.execute(query)).all()
            for message_id, attempts in rows:
                # One job per (message, attempt): a repeated sweep enqueues nothing new.
                enqueue_after_commit(
                    session,
                    DELIVER_JOB,
                    job_id=f"deliver:{message_id}:{attempts}",
                    message_id=message_id,
                )
        enqueued += len(rows)
        if len(rows) < BATCH:
            break
        last = rows[-1][0]
    return {"enqueued": enqueued}


@job(DELIVER_JOB)
async def deliver_message(ctx: JobContext, message_id: str) -> str:
    async with unit_of_work(ctx.session_factory) as session:
        now = await ctx.clock.sync(session)
        claim = await delivery.prepare(session, message_id, now, base_url=ctx.settings.base_url)
    if claim is None:
        return "not_sent"
    provider_id: str | None = None
    error: DeliveryFailed | None = None
    try:
        provider_id = await delivery.send(claim, ctx.settings)
    except DeliveryFailed as exc:
        error = exc
    async with unit_of_work(ctx.session_factory) as session:
        now = await ctx.clock.sync(session)
        return await delivery.record_result(
            session, claim, now, provider_id=provider_id, error=error
        )
