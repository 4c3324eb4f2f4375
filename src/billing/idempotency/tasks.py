from __future__ import annotations

from datetime import timedelta

from billing.db import unit_of_work
from billing.idempotency.store import purge_expired
from billing.jobs import JobContext, periodic


@periodic("idempotency.purge", every=timedelta(hours=1))
async def purge_idempotency_keys(ctx: JobContext) -> int:
    async with unit_of_work(ctx.session_factory) as session:
        now = await ctx.clock.sync(session)
        return await purge_expired(session, now)
