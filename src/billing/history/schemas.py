"""A customer's collection history: a union of typed entries, newest first."""

from __future__ import annotations

from datetime import date, datetime

import msgspec


class InvoiceEntry(msgspec.Struct, tag_field="type", tag="invoice"):
    id: str
    occurred_at: datetime
    number: int
    status: str
    currency: str
    total: int
    amount_paid: int
    due_at: datetime
    paid_at: datetime | None
    subscription_id: str | None


class AttemptEntry(msgspec.Struct, tag_field="type", tag="payment_attempt"):
    id: str
    occurred_at: datetime
    invoice_id: str
    amount: int
    currency: str
    status: str
    initiated_by: str
    payment_method_id: str | None
    failure_code: str | None
    decline_code: str | None
    decline_type: str | None
    decline_reason: str | None  # plain language, as the payer was told


class MessageEntry(msgspec.Struct, tag_field="type", tag="message"):
    id: str
    occurred_at: datetime
    invoice_id: str
    step: str
    channel: str
    template: str
    tone: str
    status: str
    recipient: str | None
    error: str | None


class NoteEntry(msgspec.Struct, tag_field="type", tag="note"):
    id: str
    occurred_at: datetime
    body: str


class PromiseEntry(msgspec.Struct, tag_field="type", tag="promise"):
    id: str
    occurred_at: datetime
    amount: int
    currency: str
    date: date
    status: str
    resolved_at: datetime | None


class DunningEntry(msgspec.Struct, tag_field="type", tag="dunning"):
    """What the retry scheduler decided after the latest failure of an installment."""

    id: str
    occurred_at: datetime
    invoice_id: str
    status: str
    next_retry_at: datetime | None
    final_action: str | None


class AgreementEntry(msgspec.Struct, tag_field="type", tag="agreement"):
    """An agreement was made (renegotiation); ``status`` is its status now."""

    id: str
    occurred_at: datetime
    agreement_id: str
    status: str
    source: str
    currency: str
    principal: int
    total: int
    installment_count: int


class AgreementEndedEntry(msgspec.Struct, tag_field="type", tag="agreement_ended"):
    """An agreement was completed, broken or canceled; ``restored_amount`` is the original
    debt given back (broken or canceled)."""

    id: str
    occurred_at: datetime
    agreement_id: str
    status: str
    currency: str
    restored_amount: int


HistoryEntry = (
    InvoiceEntry
    | AttemptEntry
    | MessageEntry
    | NoteEntry
    | PromiseEntry
    | DunningEntry
    | AgreementEntry
    | AgreementEndedEntry
)


class History(msgspec.Struct):
    data: list[HistoryEntry]
    has_more: bool


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    body: str


class PromiseIn(msgspec.Struct, forbid_unknown_fields=True):
    amount: int
    date: date
