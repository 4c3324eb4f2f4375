"""The simulated clock is one "now" for every process of a deployment."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

from billing.db import unit_of_work
from billing.kit.clock import SimulatedClock
from tests.conftest import Database, make_runtime

SCRIPT = """
import asyncio, sys
from datetime import datetime
from billing.config import Settings
from billing.db import unit_of_work
from billing.runtime import build_runtime
from billing.queue import InlineDispatcher

async def main():
    settings = Settings.from_env()
    runtime = await build_runtime(settings, dispatcher=InlineDispatcher())
    async with unit_of_work(runtime.session_factory) as session:
        seen = await runtime.clock.sync(session)
        print(seen.isoformat())
        if len(sys.argv) > 1:
            await runtime.clock.advance(session, datetime.fromisoformat(sys.argv[1]))
    await runtime.close()

asyncio.run(main())
"""


def _other_process(db: Database, *args: str) -> str:
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": db.url,
        "BILLING_CLOCK": "simulated",
        "BILLING_SECRET_KEY": "test",
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


async def test_two_processes_share_the_simulated_now(fresh_database: Database) -> None:
    clock = SimulatedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    runtime = await make_runtime(fresh_database, clock)
    try:
        async with unit_of_work(runtime.session_factory) as session:
            await clock.sync(session)  # first use persists the starting time
            await clock.advance(session, datetime(2026, 4, 1, 9, 30, tzinfo=UTC))

        # Another process reads the time this one set, then moves it on.
        seen = _other_process(fresh_database, "2026-05-10T08:00:00+00:00")
        assert datetime.fromisoformat(seen) == datetime(2026, 4, 1, 9, 30, tzinfo=UTC)

        async with unit_of_work(runtime.session_factory) as session:
            now = await clock.sync(session)
        assert now == datetime(2026, 5, 10, 8, 0, tzinfo=UTC)
        assert clock.now() == now
    finally:
        await runtime.close()


async def test_the_simulated_clock_never_moves_back(fresh_database: Database) -> None:
    import pytest

    clock = SimulatedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    runtime = await make_runtime(fresh_database, clock)
    try:
        async with unit_of_work(runtime.session_factory) as session:
            await clock.sync(session)
            with pytest.raises(ValueError, match="forward"):
                await clock.advance(session, datetime(2026, 2, 1, tzinfo=UTC))
    finally:
        await runtime.close()
