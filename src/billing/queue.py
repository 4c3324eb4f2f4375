"""Where jobs run: arq on Redis in production, an in-process queue and ticker when embedded."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from billing.jobs import REGISTRY, JobCall, JobContext, Periodic, periodic_sweeps

log = structlog.get_logger("billing.queue")


async def run_job(ctx: JobContext, name: str, kwargs: dict[str, Any]) -> Any:
    func = REGISTRY[name]
    return await func(ctx, **kwargs)


class ArqDispatcher:
    """Hands jobs to Redis; arq keeps one job per id, so a repeated enqueue is a no-op."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def dispatch(self, calls: list[JobCall]) -> None:
        for call in calls:
            await self.pool.enqueue_job(call.name, _job_id=call.job_id, **call.kwargs)


class InlineDispatcher:
    """Collects jobs and runs them when drained: used by advance_clock and by tests."""

    def __init__(self) -> None:
        self.pending: list[JobCall] = []
        self.ctx: JobContext | None = None

    async def dispatch(self, calls: list[JobCall]) -> None:
        self.pending.extend(calls)

    async def drain(self, limit: int = 100_000) -> int:
        assert self.ctx is not None, "InlineDispatcher needs its JobContext"
        ran = 0
        seen: set[str] = set()
        while self.pending and ran < limit:
            call = self.pending.pop(0)
            if call.job_id is not None:
                if call.job_id in seen:
                    continue
                seen.add(call.job_id)
            await run_job(self.ctx, call.name, call.kwargs)
            ran += 1
        return ran


def _period(sweep: Periodic) -> float:
    # A little under the period: a tick that wakes a few milliseconds early still runs it.
    return sweep.every.total_seconds() * 0.99


class InProcessQueue:
    """The embedded mode's queue: a few asyncio workers in the API process.

    Jobs with the same id are not queued twice while one is waiting or running.
    """

    def __init__(self, concurrency: int = 4) -> None:
        self.concurrency = concurrency
        self.queue: asyncio.Queue[JobCall] = asyncio.Queue()
        self.active_ids: set[str] = set()
        self.ctx: JobContext | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._ticker: asyncio.Task[None] | None = None

    async def dispatch(self, calls: list[JobCall]) -> None:
        for call in calls:
            if call.job_id is not None:
                if call.job_id in self.active_ids:
                    continue
                self.active_ids.add(call.job_id)
            self.queue.put_nowait(call)

    async def _work(self) -> None:
        while True:
            call = await self.queue.get()
            try:
                assert self.ctx is not None
                await run_job(self.ctx, call.name, call.kwargs)
            except Exception:
                # The database still says the work is due; the next sweep picks it up again.
                log.exception("job_failed", job=call.name, job_id=call.job_id)
            finally:
                if call.job_id is not None:
                    self.active_ids.discard(call.job_id)
                self.queue.task_done()

    async def _tick(self, interval: float) -> None:
        """Each sweep at its own period, as arq's cron runs them (checked every
        ``interval``): an hourly purge does not run every few seconds beside requests."""
        last: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            due = [s for s in periodic_sweeps() if now - last.get(s.name, -1e18) >= _period(s)]
            for sweep in due:
                last[sweep.name] = now
            await self.dispatch([JobCall(s.name, f"sweep:{s.name}", {}) for s in due])
            await asyncio.sleep(interval)

    def start(self, ctx: JobContext, *, tick_interval: float | None) -> None:
        self.ctx = ctx
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]
        if tick_interval:
            self._ticker = asyncio.create_task(self._tick(tick_interval))

    async def join(self) -> None:
        await self.queue.join()

    async def stop(self) -> None:
        tasks = [*self._workers, *([self._ticker] if self._ticker else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
