"""``payments.charge_due``: charge every due invoice with bounded concurrency.

The hot path is set-based. Per batch of due invoices:
  1. one transaction claims them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
     workers split the work), re-checks each with the same rules as a single charge and
     inserts their attempts ``processing``; COMMIT;
  2. up to ``concurrency`` gateway calls wait at once (this is where the time goes);
  3. outcomes are recorded in batches, one transaction per batch.
Invariant 3 holds per invoice exactly as in ``charge_invoice``: each attempt is committed
before its gateway call, and an outcome that cannot be recorded is left to recovery.
"""

from __future__ import annotations

import asyncio
import os

import structlog

from billing.db import unit_of_work
from billing.gateways import ChargeResult
from billing.jobs import JobContext
from billing.payments.attempts import PreparedCharge, Skipped, begin_due_attempts
from billing.payments.gateway_registry import config_from_stored, gateway_for, secret_box
from billing.payments.outcomes import record_outcomes
from billing.payments.service import call_gateway, record_result

log = structlog.get_logger("billing.payments.sweep")

DEFAULT_CONCURRENCY = 100
CONCURRENCY_ENV = "BILLING_CHARGE_CONCURRENCY"
RECORD_BATCH = 100


def configured_concurrency(ctx: JobContext) -> int:
    runtime = ctx.extra.get("runtime")
    value = (runtime.extra if runtime is not None else ctx.extra).get("charge_concurrency")
    return int(value or os.environ.get(CONCURRENCY_ENV) or DEFAULT_CONCURRENCY)


async def claim_due(ctx: JobContext, limit: int) -> tuple[list[PreparedCharge], list[Skipped]]:
    async with unit_of_work(ctx.session_factory) as session:
        now = await ctx.clock.sync(session)
        return await begin_due_attempts(session, limit=limit, now=now)


class _Recorder:
    """Collects gateway answers and records them a batch per transaction."""

    def __init__(self, ctx: JobContext, counts: dict[str, int]) -> None:
        self.ctx = ctx
        self.counts = counts
        self.pending: list[tuple[str, ChargeResult]] = []
        self.ready = asyncio.Event()
        self.closed = False

    def add(self, attempt_id: str, result: ChargeResult) -> None:
        self.pending.append((attempt_id, result))
        self.ready.set()

    async def run(self) -> None:
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.pending:
                batch, self.pending = self.pending[:RECORD_BATCH], self.pending[RECORD_BATCH:]
                await self._record(batch)
            if self.closed and not self.pending:
                return

    async def _record(self, batch: list[tuple[str, ChargeResult]]) -> None:
        try:
            async with unit_of_work(self.ctx.session_factory) as session:
                now = await self.ctx.clock.sync(session)
                attempts = await record_outcomes(session, batch, now=now)
            statuses = [a.status for a in attempts]
        except Exception:
            # One bad outcome must not lose the others: record them one by one; any that
            # still fails stays processing and recovery asks the gateway later.
            log.exception("batch_record_failed", size=len(batch))
            statuses = []
            for attempt_id, result in batch:
                try:
                    statuses.append((await record_result(self.ctx, attempt_id, result)).status)
                except Exception:
                    log.exception("record_failed", payment_id=attempt_id)
                    statuses.append("error")
        for status in statuses:
            self.counts[status] = self.counts.get(status, 0) + 1

    async def close(self) -> None:
        self.closed = True
        self.ready.set()


async def charge_due(
    ctx: JobContext,
    *,
    concurrency: int | None = None,
    batch_size: int | None = None,
    limit: int | None = None,
) -> dict[str, int]:
    """Charge due invoices until none is left (or ``limit``); returns counts by outcome."""
    concurrency = concurrency or configured_concurrency(ctx)
    batch_size = batch_size or max(50, concurrency)
    gate = asyncio.Semaphore(concurrency)
    counts: dict[str, int] = {}
    recorder = _Recorder(ctx, counts)
    recording = asyncio.create_task(recorder.run())
    calls: set[asyncio.Task[None]] = set()

    async def charge(prepared: PreparedCharge) -> None:
        try:
            config = config_from_stored(
                prepared.gateway_settings, secret_box(ctx), ctx.settings.gateway
            )
            gateway = gateway_for(ctx, prepared.attempt.merchant_id, config)
            result = await call_gateway(gateway, prepared)
        except Exception:
            log.exception("charge_failed", payment_id=prepared.attempt.id)
            result = None
        finally:
            gate.release()
        if result is None:
            counts["unknown"] = counts.get("unknown", 0) + 1  # left to recovery
        else:
            recorder.add(prepared.attempt.id, result)

    claimed = 0
    try:
        while limit is None or claimed < limit:
            size = batch_size if limit is None else min(batch_size, limit - claimed)
            started, skipped = await claim_due(ctx, size)
            for item in skipped:
                key = f"skipped:{item.reason}"
                counts[key] = counts.get(key, 0) + 1
            for prepared in started:
                await gate.acquire()  # bounded: at most ``concurrency`` calls in flight
                task = asyncio.create_task(charge(prepared))
                calls.add(task)
                task.add_done_callback(calls.discard)
            claimed += len(started) + len(skipped)
            if len(started) + len(skipped) < size:
                break
    finally:
        if calls:
            await asyncio.gather(*calls, return_exceptions=True)
        await recorder.close()
        await recording
    return counts
