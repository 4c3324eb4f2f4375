"""Invoices (installments): creation with gap-free numbers, listing, voiding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.invoices.numbering import take_numbers
from billing.invoices.repository import get_invoice, invoice_views
from billing.invoices.schemas import InvoiceOut
from billing.invoices.state import INVOICE
from billing.jobs import enqueue_after_commit
from billing.kit.errors import ValidationFailed
from billing.kit.ids import new_id
from billing.kit.pagination import fetch_page
from billing.models import Invoice, InvoiceLine

LINE_KINDS = frozenset({"subscription", "proration", "fee", "interest", "discount", "agreement"})
CHARGE_JOB = "payments.charge_invoice"


@dataclass(frozen=True)
class LineDraft:
    kind: str
    description: str
    amount: int
    period_start: datetime | None = None
    period_end: datetime | None = None


def charge_job_id(invoice_id: str) -> str:
    # The first automatic attempt of an invoice has one id: a repeated hand-off is a no-op.
    return f"charge:{invoice_id}:1"


def hand_off_for_collection(session: AsyncSession, invoice: Invoice) -> None:
    """After commit, give a new charge_automatically invoice to the payments service."""
    if invoice.collection_method == "charge_automatically" and invoice.status == "open":
        enqueue_after_commit(
            session,
            CHARGE_JOB,
            job_id=charge_job_id(invoice.id),
            merchant_id=invoice.merchant_id,
            invoice_id=invoice.id,
            initiated_by="automatic",
        )


def invoice_event_data(invoice: Invoice | dict[str, object]) -> dict[str, object]:
    get = invoice.get if isinstance(invoice, dict) else lambda k: getattr(invoice, k)
    return {
        "invoice_id": get("id"),
        "number": get("number"),
        "customer_id": get("customer_id"),
        "subscription_id": get("subscription_id"),
        "total": get("total"),
        "currency": get("currency"),
        "status": get("status"),
    }


async def create_invoice(
    session: AsyncSession,
    *,
    merchant_id: str,
    customer_id: str,
    subscription_id: str | None,
    currency: str,
    lines: Sequence[LineDraft],
    due_at: datetime,
    now: datetime,
    collection_method: str = "charge_automatically",
    period_start: datetime | None = None,
    period_end: datetime | None = None,
) -> Invoice:
    """One open invoice whose lines sum to its total; a zero total is paid at once."""
    if not lines:
        raise ValidationFailed("lines", "an invoice needs at least one line")
    for line in lines:
        if line.kind not in LINE_KINDS:
            raise ValueError(f"unknown line kind {line.kind!r}")
    total = sum(line.amount for line in lines)
    if total < 0:
        raise ValueError("an invoice total cannot be negative")
    discount = -sum(line.amount for line in lines if line.kind == "discount")
    number = await take_numbers(session, merchant_id, 1)
    invoice = Invoice(
        id=new_id("inv"),
        merchant_id=merchant_id,
        customer_id=customer_id,
        subscription_id=subscription_id,
        number=number,
        status="open" if total > 0 else "paid",
        collection_method=collection_method,
        currency=currency,
        subtotal=total + discount,
        discount=discount,
        late_fee=0,
        interest=0,
        total=total,
        amount_paid=0,
        due_at=due_at,
        period_start=period_start,
        period_end=period_end,
        paid_at=None if total > 0 else now,
        attempt_count=0,
        created_at=now,
    )
    session.add(invoice)
    await session.flush()
    session.add_all(
        InvoiceLine(
            invoice_id=invoice.id,
            merchant_id=merchant_id,
            kind=line.kind,
            description=line.description,
            amount=line.amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line in lines
    )
    await session.flush()
    await record_event(
        session, merchant_id, "invoice.created", invoice_event_data(invoice), now=now
    )
    return invoice


async def list_invoices(
    session: AsyncSession,
    merchant_id: str,
    *,
    now: datetime,
    customer_id: str | None = None,
    subscription_id: str | None = None,
    status: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[InvoiceOut], bool]:
    if status is not None and status not in INVOICE.states:
        raise ValidationFailed("status", f"must be one of {', '.join(sorted(INVOICE.states))}")
    query = select(Invoice).where(Invoice.merchant_id == merchant_id)
    if customer_id:
        query = query.where(Invoice.customer_id == customer_id)
    if subscription_id:
        query = query.where(Invoice.subscription_id == subscription_id)
    if status:
        query = query.where(Invoice.status == status)
    rows, more = await fetch_page(
        session, query, Invoice.id, limit=limit, starting_after=starting_after
    )
    return await invoice_views(session, merchant_id, rows, now=now), more


async def void_invoice(
    session: AsyncSession, merchant_id: str, invoice_id: str, *, now: datetime
) -> InvoiceOut:
    invoice = await get_invoice(session, merchant_id, invoice_id, for_update=True)
    invoice.status = INVOICE.check(invoice.status, "void")
    invoice.voided_at = now
    # Nothing is collected on a void invoice: retries stop here.
    invoice.next_payment_attempt = None
    await session.flush()
    await record_event(session, merchant_id, "invoice.voided", invoice_event_data(invoice), now=now)
    return (await invoice_views(session, merchant_id, [invoice], now=now))[0]
