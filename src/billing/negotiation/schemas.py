"""Agreements as the merchant API shows them."""

from __future__ import annotations

from datetime import datetime

import msgspec

from billing.models import Agreement, AgreementInvoice, Invoice
from billing.negotiation.quote import DebtItem, Quote


class AgreementIn(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: str
    installments: int
    payment_method: str = "boleto"  # card | pix | boleto
    invoice_ids: list[str] | None = None  # default: every eligible overdue installment
    note: str | None = None


class OriginalOut(msgspec.Struct):
    invoice_id: str
    number: int
    amount: int  # what it still owed when the agreement was made
    status: str


class InstallmentOut(msgspec.Struct):
    invoice_id: str
    seq: int
    number: int
    amount: int
    due_at: datetime
    status: str
    amount_paid: int


class AgreementOut(msgspec.Struct):
    id: str
    customer_id: str
    status: str
    source: str
    payment_method: str
    currency: str
    installment_count: int
    principal: int
    fees: int
    waived_fees: int
    discount: int
    total: int
    amount_paid: int
    restored_amount: int
    break_after_days: int
    note: str | None
    created_at: datetime
    ended_at: datetime | None
    original_invoices: list[OriginalOut]
    installments: list[InstallmentOut]

    @classmethod
    def build(cls, a: Agreement, links: list[tuple[AgreementInvoice, Invoice]]) -> AgreementOut:
        originals = [
            OriginalOut(inv.id, inv.number, link.amount, inv.status)
            for link, inv in links
            if link.role == "original"
        ]
        parts = [
            InstallmentOut(
                inv.id, link.seq, inv.number, link.amount, inv.due_at, inv.status,
                inv.amount_paid,
            )
            for link, inv in links
            if link.role == "installment"
        ]  # fmt: skip
        return cls(
            id=a.id, customer_id=a.customer_id, status=a.status, source=a.source,
            payment_method=a.payment_method, currency=a.currency,
            installment_count=a.installment_count, principal=a.principal, fees=a.fees,
            waived_fees=a.waived_fees, discount=a.discount, total=a.total,
            amount_paid=sum(p.amount_paid for p in parts), restored_amount=a.restored_amount,
            break_after_days=a.break_after_days, note=a.note, created_at=a.created_at,
            ended_at=a.ended_at, original_invoices=originals, installments=parts,
        )  # fmt: skip


class AgreementList(msgspec.Struct):
    data: list[AgreementOut]
    has_more: bool


class DebtItemOut(msgspec.Struct):
    invoice_id: str
    number: int
    due_at: datetime
    amount: int
    fees: int
    days_overdue: int


class ScheduleOut(msgspec.Struct):
    seq: int
    due_at: datetime
    amount: int


class OptionOut(msgspec.Struct):
    installments: int
    principal: int
    fees: int
    waived_fees: int
    discount: int
    total: int
    schedule: list[ScheduleOut]

    @classmethod
    def of(cls, q: Quote) -> OptionOut:
        return cls(
            q.installment_count, q.principal, q.fees, q.waived_fees, q.discount, q.total,
            [ScheduleOut(s.seq, s.due_at, s.amount) for s in q.schedule],
        )  # fmt: skip


class OptionsOut(msgspec.Struct):
    customer_id: str
    currency: str
    enabled: bool
    invoices: list[DebtItemOut]
    options: list[OptionOut]

    @classmethod
    def of(
        cls,
        customer_id: str,
        currency: str,
        enabled: bool,
        items: list[DebtItem],
        quotes: list[Quote],
    ) -> OptionsOut:
        return cls(
            customer_id, currency, enabled,
            [DebtItemOut(i.invoice_id, i.number, i.due_at, i.outstanding, i.fees,
                         i.days_overdue) for i in items],
            [OptionOut.of(q) for q in quotes],
        )  # fmt: skip
