from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import UTCDateTime


class Invoice(Base):
    """An installment. ``late_fee``/``interest`` hold what was charged when it was paid;
    while open and overdue they are computed from the clock (collection/late_fees)."""

    __tablename__ = "invoices"
    __table_args__ = (
        # Invariant 2: one invoice per (subscription, period), whoever runs the billing.
        UniqueConstraint("subscription_id", "period_start"),
        UniqueConstraint("merchant_id", "number"),
        # The customer is one of this merchant's (migration 0014).
        ForeignKeyConstraint(
            ["customer_id", "merchant_id"], ["customers.id", "customers.merchant_id"]
        ),
        Index("ix_invoices_merchant_customer", "merchant_id", "customer_id"),
        Index("ix_invoices_status_due", "status", "due_at"),
        # Only invoices with a retry planned: a new installment (NULL) costs no index write.
        Index(
            "ix_invoices_next_attempt",
            "next_payment_attempt",
            postgresql_where=text("next_payment_attempt IS NOT NULL"),
            sqlite_where=text("next_payment_attempt IS NOT NULL"),
        ),
        # The retry planner's keyset walk (migration 0008).
        Index(
            "ix_invoices_open_automatic",
            "id",
            postgresql_where=text("status = 'open' AND collection_method = 'charge_automatically'"),
            sqlite_where=text("status = 'open' AND collection_method = 'charge_automatically'"),
        ),
        # Recovery: one merchant's installments paid in a date range (migration 0010).
        Index(
            "ix_invoices_merchant_paid",
            "merchant_id",
            "paid_at",
            postgresql_include=["id", "due_at", "amount_paid", "attempt_count"],
            postgresql_where=text("status = 'paid'"),
            sqlite_where=text("status = 'paid'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    collection_method: Mapped[str] = mapped_column(String(24), default="charge_automatically")
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    late_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    interest: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_payment_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InvoiceLine(Base):
    """Lines (subscription, proration, fee, interest, discount) sum to the invoice total."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(300))
    amount: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InvoiceSequence(Base):
    """Per-merchant invoice numbers without gaps: taken under the row lock in the same
    transaction that creates the invoices."""

    __tablename__ = "invoice_sequences"

    merchant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("merchants.id"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer, default=0)
