"""When a failed invoice is charged again: the seam between payments and dunning.

The default policy is the merchant's ``/v1/settings/dunning`` schedule computed by
``dunning.schedule.next_retry_at``; soft declines only (a hard decline waits for a new
method, authentication waits for the payer). The collections issue may refine
``next_retry``; ``payments.charge_due`` only reads ``invoice.next_payment_attempt``.
Loaders take many invoices at once so a batch of outcomes costs two queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.dunning.schedule import DEFAULT_RETRY_SCHEDULE_HOURS, next_retry_at
from billing.models import Invoice, Merchant, MerchantSettings, PaymentAttempt

RetryPolicy = tuple[str, dict[str, Any]]  # (merchant time zone, dunning settings)


async def retry_policies(
    session: AsyncSession, merchant_ids: Iterable[str]
) -> dict[str, RetryPolicy]:
    rows = await session.execute(
        select(Merchant.id, Merchant.timezone, MerchantSettings.dunning)
        .outerjoin(MerchantSettings, MerchantSettings.merchant_id == Merchant.id)
        .where(Merchant.id.in_(set(merchant_ids)))
    )
    return {mid: (tz, dunning or {}) for mid, tz, dunning in rows}


async def first_failures(session: AsyncSession, invoice_ids: Iterable[str]) -> dict[str, datetime]:
    rows = await session.execute(
        select(PaymentAttempt.invoice_id, func.min(PaymentAttempt.completed_at))
        .where(
            PaymentAttempt.invoice_id.in_(set(invoice_ids)),
            PaymentAttempt.status == "failed",
            PaymentAttempt.completed_at.is_not(None),
        )
        .group_by(PaymentAttempt.invoice_id)
    )
    return {invoice_id: at for invoice_id, at in rows if at is not None}


def next_retry(
    invoice: Invoice,
    attempt: PaymentAttempt,
    policy: RetryPolicy,
    first_failure: datetime | None,
    now: datetime,
) -> datetime | None:
    """After ``invoice.attempt_count`` failures (already counted), or None: no retry."""
    if attempt.decline_type != "soft":
        return None
    tz, dunning = policy
    schedule = tuple(int(h) for h in dunning.get("retry_schedule_hours") or ())
    schedule = schedule or DEFAULT_RETRY_SCHEDULE_HOURS
    max_attempts = int(dunning.get("max_attempts") or len(schedule) + 1)
    failures = invoice.attempt_count
    if failures >= max_attempts:
        return None
    return next_retry_at(
        first_failure or now,
        failures,
        schedule,
        tz,
        jitter_key=f"{invoice.id}:{failures}",
        decline_code=attempt.decline_code,
    )
