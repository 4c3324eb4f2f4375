"""The retry planner's periodic sweep."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from billing.db import unit_of_work
from billing.dunning import due as _due  # noqa: F401  (registers the sandbox due sources)
from billing.dunning.planner import apply_final_actions, plan_failed_attempts
from billing.jobs import JobContext, periodic

BATCH = 10_000  # big batches: each selection pays one pass over the failed attempts
MAX_BATCHES = 200  # a bound per run; the next run continues
# PostgreSQL: planning loops sharing the sweep (the selection skips locked installments), so
# that one loop's Python planning overlaps the other's writes. SQLite has one writer.
PG_LOOPS = 2


@periodic("dunning.plan_retries", every=timedelta(minutes=1))
async def plan_retries(ctx: JobContext) -> dict[str, int]:
    """Plan every unhandled failed charge, then take final actions that are due.

    Each batch is its own transaction: a crash loses at most one batch of work, which the
    next run redoes (the dunning state says what was handled).
    """
    loops = 1 if ctx.settings.is_sqlite else PG_LOOPS
    planned = sum(await asyncio.gather(*(_plan_loop(ctx) for _ in range(loops))))
    finals = 0
    for _ in range(MAX_BATCHES):
        async with unit_of_work(ctx.session_factory) as session:
            now = await ctx.clock.sync(session)
            done = await apply_final_actions(session, now, batch=BATCH)
        finals += done
        if done < BATCH:
            break
    return {"planned": planned, "final_actions": finals}


async def _plan_loop(ctx: JobContext) -> int:
    """Keyset batches in invoice id order until one comes back short. A batch shortened by
    the other loop's locks ends this loop early; the other one walks on past it."""
    planned = 0
    last = ""
    for _ in range(MAX_BATCHES):
        async with unit_of_work(ctx.session_factory) as session:
            now = await ctx.clock.sync(session)
            done, last, newly = await plan_failed_attempts(session, now, batch=BATCH, after=last)
        planned += newly
        if done < BATCH:
            break
    return planned
