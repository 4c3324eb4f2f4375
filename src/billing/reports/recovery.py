"""Recovery: what collection brought back, by channel, over time.

An installment is *recovered* when it is paid (``paid_at`` in the bucket) and it needed
collecting: it was paid after its due date, or it had a failed (or abandoned) attempt
before the one that paid it, or it is an
installment of an agreement (renegotiated debt is recovered debt by definition; the
originals it replaced are closed as renegotiated, never paid, so nothing counts twice).
The amount is what the installment collected (``amount_paid``, late charges included).

Each recovered installment is credited to exactly one channel, first match wins:
1. ``agreement``: it is an agreement installment;
2. ``automatic_retry``: its successful attempt was a scheduled retry (``initiated_by=retry``);
3. ``ruler_message``: a collection message for it was *sent* within ``attribution_days``
   (default 7) before the payment, and the payment was the payer's doing (not a retry,
   not a merchant API charge): the message is what brought the payer back, whether they
   paid in the portal or paid the boleto/Pix outside it;
4. ``portal``: its successful attempt was made by the payer in the portal (``payer``)
   with no message in the window;
5. ``other``: anything else (a merchant API charge, paid out of band, a late boleto with
   no recent message), so that the channels add up to the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from billing.db import is_postgres
from billing.kit.errors import ValidationFailed
from billing.models import AgreementInvoice, CollectionMessage, Invoice, PaymentAttempt
from billing.reports.periods import buckets
from billing.reports.service import without_jit

CHANNELS = ("automatic_retry", "ruler_message", "portal", "agreement", "other")


@dataclass(frozen=True)
class RecoveryRow:
    period_start: str
    automatic_retry_count: int
    automatic_retry_amount: int
    ruler_message_count: int
    ruler_message_amount: int
    portal_count: int
    portal_amount: int
    agreement_count: int
    agreement_amount: int
    other_count: int
    other_amount: int
    total_count: int
    total_amount: int


def _sent_within(days: int, postgres: bool) -> ColumnElement[bool]:
    """The message went out in the ``days`` before the payment (dialect date arithmetic)."""
    sent, paid = CollectionMessage.sent_at, Invoice.paid_at
    if postgres:
        # ``days`` is a validated int, so the literal is safe.
        return and_(sent <= paid, sent >= paid - literal_column(f"interval '{int(days)} days'"))
    return and_(sent <= paid, func.julianday(sent) >= func.julianday(paid) - days)


async def recovery(
    session: AsyncSession, merchant_id: str, *, now: datetime, timezone: str,
    interval: str = "month", start: date | None = None, end: date | None = None,
    attribution_days: int = 7,
) -> list[RecoveryRow]:  # fmt: skip
    if not 1 <= attribution_days <= 90:
        raise ValidationFailed("attribution_days", "between 1 and 90")
    b = buckets(interval, start, end, now=now, timezone=timezone)
    await without_jit(session)
    is_agreement = exists().where(
        AgreementInvoice.merchant_id == merchant_id,
        AgreementInvoice.invoice_id == Invoice.id,
        AgreementInvoice.role == "installment",
    )
    # The database allows one succeeded attempt per invoice, so an outer join adds no row.
    success = aliased(PaymentAttempt)
    paid_by = func.coalesce(success.initiated_by, "none")
    messaged = exists().where(
        CollectionMessage.invoice_id == Invoice.id,
        CollectionMessage.status == "sent",
        _sent_within(attribution_days, is_postgres(session)),
    )
    # ``attempt_count`` counts an installment's failed (or authentication-required)
    # attempts, never its success (payments/outcomes.py): no lookup of attempts per row.
    had_failure = Invoice.attempt_count > 0
    channel = case(
        (is_agreement, "agreement"),
        (paid_by == "retry", "automatic_retry"),
        (and_(paid_by.not_in(("retry", "merchant")), messaged), "ruler_message"),
        (paid_by == "payer", "portal"),
        else_="other",
    ).label("channel")
    bucket = b.index(Invoice.paid_at).label("bucket")
    recovered = (
        select(bucket, channel, Invoice.amount_paid.label("amount"))
        .outerjoin(
            success,
            and_(
                success.invoice_id == Invoice.id,
                success.merchant_id == merchant_id,
                success.status == "succeeded",
            ),
        )
        .where(
            Invoice.merchant_id == merchant_id,
            Invoice.status == "paid",
            Invoice.paid_at >= b.bounds[0],
            Invoice.paid_at < b.bounds[-1],
            or_(Invoice.paid_at > Invoice.due_at, had_failure, is_agreement),
        )
        .subquery()
    )
    rows = await session.execute(
        select(
            recovered.c.bucket, recovered.c.channel, func.count(), func.sum(recovered.c.amount)
        ).group_by(recovered.c.bucket, recovered.c.channel)
    )
    found = {(int(i), ch): (int(n), int(s or 0)) for i, ch, n, s in rows.all()}
    out = []
    for i, start_day in enumerate(b.starts):
        cells: dict[str, int] = {}
        for ch in CHANNELS:
            cells[f"{ch}_count"], cells[f"{ch}_amount"] = found.get((i, ch), (0, 0))
        total_count = sum(found.get((i, ch), (0, 0))[0] for ch in CHANNELS)
        total_amount = sum(found.get((i, ch), (0, 0))[1] for ch in CHANNELS)
        out.append(
            RecoveryRow(
                period_start=start_day.isoformat(),
                total_count=total_count,
                total_amount=total_amount,
                **cells,
            )
        )
    return out
