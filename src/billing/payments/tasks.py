"""Payment jobs: charge one invoice, charge everything due, recover interrupted attempts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from billing.jobs import JobContext, job, periodic
from billing.kit.errors import NotFound
from billing.payments.service import charge_invoice, recover_attempt, stuck_attempt_ids
from billing.payments.sweep import charge_due


@job("payments.charge_invoice")
async def charge_invoice_job(
    ctx: JobContext,
    *,
    merchant_id: str,
    invoice_id: str,
    initiated_by: str = "automatic",
    payment_method_id: str | None = None,
) -> str | None:
    """Returns the attempt id, or None when there was nothing to charge."""
    try:
        attempt = await charge_invoice(
            ctx,
            merchant_id=merchant_id,
            invoice_id=invoice_id,
            payment_method_id=payment_method_id,
            initiated_by=initiated_by,
        )
    except NotFound:
        return None  # deleted or never ours: nothing to do, do not retry
    return attempt.id if attempt is not None else None


@periodic("payments.charge_due", every=timedelta(minutes=1))
async def charge_due_job(ctx: JobContext, **options: Any) -> dict[str, int]:
    return await charge_due(ctx, **options)


@periodic("payments.recover_stuck_attempts", every=timedelta(minutes=1))
async def recover_stuck_attempts(ctx: JobContext, limit: int = 100) -> int:
    """Settle attempts left ``processing`` by a crash by asking the gateway (never charging)."""
    recovered = 0
    for attempt_id in await stuck_attempt_ids(ctx, limit=limit):
        attempt = await recover_attempt(ctx, attempt_id)
        if attempt is not None and attempt.status != "processing":
            recovered += 1
    return recovered
