from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import UTCDateTime


class Agreement(Base):
    """A renegotiation: overdue installments consolidated into new ones (negotiation/).

    Money figures are fixed when the agreement is made: ``principal`` (what the original
    installments still owed), ``fees`` (their late fee + interest then), ``waived_fees``,
    ``discount`` (the cash discount) and ``total`` = principal + fees - waived - discount,
    which the new installments split exactly.
    """

    __tablename__ = "agreements"
    __table_args__ = (
        Index("ix_agreements_customer", "merchant_id", "customer_id"),
        Index("ix_agreements_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16))  # active | completed | broken | canceled
    source: Mapped[str] = mapped_column(String(8))  # api | portal
    payment_method: Mapped[str] = mapped_column(String(8))  # card | pix | boleto
    currency: Mapped[str] = mapped_column(String(3))
    installment_count: Mapped[int] = mapped_column(Integer)
    principal: Mapped[int] = mapped_column(BigInteger)
    fees: Mapped[int] = mapped_column(BigInteger)
    waived_fees: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    # Original debt given back when the agreement was broken or canceled.
    restored_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    break_after_days: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgreementInvoice(Base):
    """An invoice of an agreement: an ``original`` it consolidated (with what it still owed
    then) or one of its new ``installment``s (with its sequence number)."""

    __tablename__ = "agreement_invoices"
    __table_args__ = (Index("ix_agreement_invoices_invoice", "invoice_id"),)

    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(12))  # original | installment
    seq: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
