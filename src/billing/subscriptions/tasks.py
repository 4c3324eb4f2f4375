"""The billing run as a periodic sweep (embedded ticker or arq cron)."""

from __future__ import annotations

from datetime import timedelta

from billing.jobs import JobContext, periodic
from billing.subscriptions.renewal import run_billing


@periodic("billing.run", every=timedelta(minutes=1))
async def billing_run(ctx: JobContext) -> int:
    """Returns how many invoices this run created (0 when another worker had them)."""
    result = await run_billing(ctx.session_factory, ctx.clock)
    return result.invoices_created
