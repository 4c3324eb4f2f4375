"""Settling an invoice when a payment succeeds.

Convention shared with ``InvoiceOut.build``: while the invoice is collectible, ``total``
excludes late charges (they are computed from the clock); when it is paid, the fee and
interest actually charged become invoice lines and are added to ``total`` (lines always sum
to the total), ``late_fee``/``interest`` keep them, and ``amount_due`` is 0.

Written for batches: nothing here queries or flushes per invoice, so the charging sweep can
settle a hundred invoices in one transaction of a few statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.invoices.state import INVOICE
from billing.models import Invoice, InvoiceLine, Subscription
from billing.subscriptions.state import SUBSCRIPTION

# A successful payment brings these subscriptions back to active.
REACTIVATED_BY_PAYMENT = frozenset({"past_due", "unpaid"})
# A failed payment (or debt coming back, a broken agreement) puts these past due (API.md).
PAST_DUE_FROM = frozenset({"trialing", "active"})


async def settle_invoice(
    session: AsyncSession,
    invoice: Invoice,
    *,
    amount: int,
    late_fee: int,
    interest: int,
    payment_id: str,
    now: datetime,
) -> None:
    """Mark ``invoice`` (locked by the caller) paid by a payment of ``amount``.

    ``late_fee``/``interest`` are the late charges included in ``amount`` (fixed when the
    attempt was created, so the payer pays exactly what was sent to the gateway). The
    subscription is the caller's (``reactivate_subscription``).
    """
    INVOICE.check(invoice.status, "paid")
    if late_fee:
        _add_line(session, invoice, "late_fee", "Multa por atraso", late_fee)
    if interest:
        _add_line(session, invoice, "interest", "Juros de mora", interest)
    invoice.late_fee = late_fee
    invoice.interest = interest
    invoice.total += late_fee + interest
    invoice.amount_paid += amount
    invoice.status = "paid"
    invoice.paid_at = now
    invoice.next_payment_attempt = None
    await record_event(
        session,
        invoice.merchant_id,
        "invoice.paid",
        {
            "invoice_id": invoice.id,
            "customer_id": invoice.customer_id,
            "subscription_id": invoice.subscription_id,
            "amount_paid": invoice.amount_paid,
            "currency": invoice.currency,
            "payment_id": payment_id,
        },
        now=now,
        flush=False,
    )


def _add_line(session: AsyncSession, invoice: Invoice, kind: str, text: str, amount: int) -> None:
    session.add(
        InvoiceLine(
            invoice_id=invoice.id,
            merchant_id=invoice.merchant_id,
            kind=kind,
            description=text,
            amount=amount,
        )
    )


async def open_invoices_of(
    session: AsyncSession, subscription_ids: Iterable[str]
) -> dict[str, set[str]]:
    """Open invoice ids per subscription (uncollectible ones were written off by dunning
    and do not keep a subscription past due)."""
    ids = list(set(subscription_ids))
    found: dict[str, set[str]] = {i: set() for i in ids}
    if ids:
        rows = await session.execute(
            select(Invoice.subscription_id, Invoice.id).where(
                Invoice.subscription_id.in_(ids), Invoice.status == "open"
            )
        )
        for sub_id, invoice_id in rows:
            found.setdefault(sub_id or "", set()).add(invoice_id)
    return found


async def reactivate_subscription(
    session: AsyncSession, subscription: Subscription, *, invoice_id: str, now: datetime
) -> None:
    """past_due/unpaid → active once nothing of it is open (the caller checked that)."""
    if subscription.status not in REACTIVATED_BY_PAYMENT:
        return
    previous = subscription.status
    subscription.status = SUBSCRIPTION.check(previous, "active")
    await record_event(
        session,
        subscription.merchant_id,
        "subscription.active",
        {"subscription_id": subscription.id, "previous_status": previous, "invoice_id": invoice_id},
        now=now,
        flush=False,
    )


async def mark_past_due(
    session: AsyncSession,
    subscription: Subscription,
    *,
    invoice_id: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """trialing/active → past_due for an installment left unpaid (the inverse of
    ``reactivate_subscription``); any other status is left as it is."""
    if subscription.status not in PAST_DUE_FROM:
        return
    subscription.status = SUBSCRIPTION.check(subscription.status, "past_due")
    data: dict[str, object] = {"subscription_id": subscription.id, "invoice_id": invoice_id}
    if reason is not None:
        data["reason"] = reason
    await record_event(
        session, subscription.merchant_id, "subscription.past_due", data, now=now, flush=False
    )
