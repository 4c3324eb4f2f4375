from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import JSONType, UTCDateTime


class PaymentAttempt(Base):
    """One try at collecting an invoice, committed before the gateway is called (invariant 3)."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("invoice_id", "attempt_number"),
        # The database itself refuses a second successful charge of one invoice.
        Index(
            "uq_payment_attempts_one_success",
            "invoice_id",
            unique=True,
            postgresql_where=text("status = 'succeeded'"),
            sqlite_where=text("status = 'succeeded'"),
        ),
        Index("ix_payment_attempts_status", "status", "attempted_at"),
        # Latest automatic attempt per invoice, for the retry planner (migration 0008).
        Index(
            "ix_payment_attempts_automatic",
            "invoice_id",
            "attempt_number",
            postgresql_where=text("initiated_by IN ('automatic', 'retry')"),
            sqlite_where=text("initiated_by IN ('automatic', 'retry')"),
        ),
        # Customer metrics: one customer's attempts (migration 0010).
        Index("ix_payment_attempts_customer", "merchant_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    payment_method_id: Mapped[str | None] = mapped_column(ForeignKey("payment_methods.id"))
    attempt_number: Mapped[int] = mapped_column(Integer)
    # automatic (first charge) | retry | payer (portal) | merchant (API)
    initiated_by: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    gateway_ref: Mapped[str | None] = mapped_column(String(200))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    decline_code: Mapped[str | None] = mapped_column(String(60))
    decline_type: Mapped[str | None] = mapped_column(String(24))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    next_action_url: Mapped[str | None] = mapped_column(String(2000))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # pix / boleto data
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
