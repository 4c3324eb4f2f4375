"""``advance_clock``: move the simulated clock forward, running all work due on the way.

The clock steps to each instant something is due (sandbox/due.py), runs every periodic
sweep there and drains the jobs they and their jobs enqueue, inline, before stepping on:
an installment, its charge, the retry three days later and the ruler's reminders are each
stamped with their own time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.db import unit_of_work
from billing.jobs import REGISTRY, JobContext, periodic_sweeps
from billing.kit.clock import SimulatedClock
from billing.kit.errors import NotFound, ValidationFailed
from billing.models import Event, Invoice, PaymentAttempt, Subscription
from billing.queue import InlineDispatcher
from billing.runtime import Runtime, session_factory_for
from billing.sandbox.due import due_times

log = structlog.get_logger("billing.sandbox")

MAX_STEPS = 20_000  # instants visited in one call: a few years of daily work
MAX_DRAIN = 200_000
_ONE_AT_A_TIME = asyncio.Lock()


@dataclass
class AdvanceResult:
    now: datetime
    summary: dict[str, int] = field(default_factory=dict)


async def _counts(session: AsyncSession) -> dict[str, int]:
    invoices = await session.scalar(select(func.count()).select_from(Invoice))
    attempts = (
        await session.execute(
            select(PaymentAttempt.status, func.count()).group_by(PaymentAttempt.status)
        )
    ).all()
    canceled = await session.scalar(
        select(func.count()).select_from(Subscription).where(Subscription.status == "canceled")
    )
    events = await session.scalar(select(func.count()).select_from(Event))
    by_status = {status: int(n) for status, n in attempts}
    return {
        "invoices_created": int(invoices or 0),
        "charges_attempted": sum(by_status.values()),
        "charges_succeeded": by_status.get("succeeded", 0),
        "charges_failed": by_status.get("failed", 0),
        "subscriptions_canceled": int(canceled or 0),
        "events_created": int(events or 0),
    }


class _Runner:
    """Runs the sweeps and drains their jobs inline, in this task."""

    def __init__(self, runtime: Runtime, clock: SimulatedClock) -> None:
        self.dispatcher = InlineDispatcher()
        self.ctx = JobContext(
            settings=runtime.settings,
            session_factory=session_factory_for(runtime.engine, self.dispatcher),
            clock=clock,
            dispatcher=self.dispatcher,
            extra={"runtime": runtime, **runtime.extra},
        )
        self.dispatcher.ctx = self.ctx
        self.jobs_run = 0

    async def _run(self, name: str, kwargs: dict[str, Any]) -> None:
        func = REGISTRY.get(name)
        if func is None:
            log.warning("sandbox_unknown_job", job=name)
            return
        try:
            await func(self.ctx, **kwargs)
        except Exception:
            # As in the real queue: the database still says what is due; go on.
            log.exception("sandbox_job_failed", job=name)
        self.jobs_run += 1

    async def run_due_work(self) -> None:
        for sweep in periodic_sweeps():
            await self._run(sweep.name, {})
            await self.drain()

    async def drain(self) -> None:
        seen: set[str] = set()
        ran = 0
        while self.dispatcher.pending and ran < MAX_DRAIN:
            call = self.dispatcher.pending.pop(0)
            if call.job_id is not None:
                if call.job_id in seen:
                    continue
                seen.add(call.job_id)
            await self._run(call.name, call.kwargs)
            ran += 1


async def advance_clock(runtime: Runtime, to: datetime) -> AdvanceResult:
    clock = runtime.clock
    if not isinstance(clock, SimulatedClock):
        raise NotFound("advance_clock only exists when the server runs the simulated clock.")
    if to.tzinfo is None:
        raise ValidationFailed("to", "must carry a time zone, e.g. 2026-11-22T10:00:00Z")
    async with _ONE_AT_A_TIME:
        runner = _Runner(runtime, clock)
        factory = runner.ctx.session_factory
        async with unit_of_work(factory) as session:
            now = await clock.sync(session)
            if to < now:
                raise ValidationFailed("to", f"must not be before the clock's now ({now})")
            before = await _counts(session)
        steps = 0
        stalled = 0
        while steps < MAX_STEPS:
            async with unit_of_work(factory) as session:
                times = await due_times(session, now)
            if any(t <= now for t in times) and stalled < 2:
                # Work due already (left over, or made due by the last step's jobs).
                await runner.run_due_work()
                stalled += 1
                continue
            upcoming = [t for t in times if now < t <= to]
            if not upcoming:
                break
            now = await _set_clock(factory, clock, min(upcoming))
            steps += 1
            await runner.run_due_work()
            stalled = 1
        if now < to:
            now = await _set_clock(factory, clock, to)
            await runner.run_due_work()
        async with unit_of_work(factory) as session:
            after = await _counts(session)
        summary = {key: after[key] - before[key] for key in after}
        summary["steps"] = steps
        summary["jobs_run"] = runner.jobs_run
        return AdvanceResult(now=now, summary=summary)


async def _set_clock(factory: Any, clock: SimulatedClock, to: datetime) -> datetime:
    async with unit_of_work(factory) as session:
        return await clock.advance(session, to)
