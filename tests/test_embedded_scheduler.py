"""The embedded scheduler runs each sweep at the period it declares, as arq's cron does."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from billing import queue as queue_module
from billing.jobs import REGISTRY, JobContext, Periodic
from billing.queue import InProcessQueue


async def test_each_sweep_runs_at_its_own_period(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = {"often": 0, "hourly": 0}

    def counter(name: str) -> Any:
        async def sweep(_ctx: JobContext) -> None:
            runs[name] += 1

        return sweep

    sweeps = [
        Periodic("test.often", counter("often"), timedelta(milliseconds=40)),
        Periodic("test.hourly", counter("hourly"), timedelta(hours=1)),
    ]
    monkeypatch.setattr(queue_module, "periodic_sweeps", lambda: sweeps)
    for sweep in sweeps:
        monkeypatch.setitem(REGISTRY, sweep.name, sweep.func)
    queue = InProcessQueue(concurrency=1)
    queue.start(JobContext.__new__(JobContext), tick_interval=0.01)
    try:
        await asyncio.sleep(0.5)
    finally:
        await queue.stop()
    assert runs["hourly"] == 1  # at start, then not for another hour
    assert 6 <= runs["often"] <= 14  # about every 40 ms, not every 10 ms tick
