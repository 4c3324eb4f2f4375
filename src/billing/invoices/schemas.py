"""The invoice as the merchant API shows it (API.md, Invoices)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from billing.collection.late_fees import LateFeePolicy, late_charges
from billing.invoices.state import COLLECTIBLE
from billing.models import Invoice, InvoiceLine

DEFAULT_TZ = "America/Sao_Paulo"


class InvoiceLineOut(msgspec.Struct):
    description: str
    amount: int
    kind: str

    @classmethod
    def of(cls, line: InvoiceLine) -> InvoiceLineOut:
        return cls(line.description, line.amount, line.kind)


class InvoiceOut(msgspec.Struct):
    id: str
    number: int
    customer_id: str
    subscription_id: str | None
    status: str
    collection_method: str
    currency: str
    subtotal: int
    discount: int
    late_fee: int
    interest: int
    total: int
    amount_paid: int
    amount_due: int
    due_at: datetime
    period_start: datetime | None
    period_end: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    attempt_count: int
    next_payment_attempt: datetime | None
    created_at: datetime
    lines: list[InvoiceLineOut]

    @classmethod
    def build(
        cls,
        invoice: Invoice,
        lines: Sequence[InvoiceLine],
        *,
        now: datetime,
        policy: LateFeePolicy | None = None,
        tz: str = DEFAULT_TZ,
    ) -> InvoiceOut:
        """The invoice as of ``now``: an overdue collectible invoice shows the late fee and
        interest it would owe if paid now; otherwise the stored figures (what was charged)."""
        late_fee, interest = invoice.late_fee, invoice.interest
        outstanding = max(0, invoice.total - invoice.amount_paid)
        if invoice.status in COLLECTIBLE and outstanding > 0 and now > invoice.due_at:
            charges = late_charges(outstanding, invoice.due_at, now, policy or LateFeePolicy(), tz)
            late_fee, interest = charges.fee, charges.interest
            amount_due = outstanding + late_fee + interest
        elif invoice.status in COLLECTIBLE or invoice.status == "draft":
            amount_due = outstanding
        else:
            amount_due = 0  # paid or void: nothing more is owed
        return cls(
            id=invoice.id,
            number=invoice.number,
            customer_id=invoice.customer_id,
            subscription_id=invoice.subscription_id,
            status=invoice.status,
            collection_method=invoice.collection_method,
            currency=invoice.currency,
            subtotal=invoice.subtotal,
            discount=invoice.discount,
            late_fee=late_fee,
            interest=interest,
            total=invoice.total,
            amount_paid=invoice.amount_paid,
            amount_due=amount_due,
            due_at=invoice.due_at,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            paid_at=invoice.paid_at,
            voided_at=invoice.voided_at,
            attempt_count=invoice.attempt_count,
            next_payment_attempt=invoice.next_payment_attempt,
            created_at=invoice.created_at,
            lines=[InvoiceLineOut.of(line) for line in lines],
        )


class InvoiceList(msgspec.Struct):
    data: list[InvoiceOut]
    has_more: bool
