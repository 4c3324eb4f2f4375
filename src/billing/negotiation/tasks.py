"""The agreements sweep: complete the paid ones, break the ones overdue past tolerance."""

from __future__ import annotations

from datetime import timedelta

from billing.db import unit_of_work
from billing.jobs import JobContext, periodic
from billing.negotiation.service import sweep_agreements


@periodic("negotiation.sweep_agreements", every=timedelta(hours=1))
async def sweep(ctx: JobContext) -> dict[str, int]:
    async with unit_of_work(ctx.session_factory) as session:
        now = await ctx.clock.sync(session)
        completed, broken = await sweep_agreements(session, now)
    return {"completed": completed, "broken": broken}
