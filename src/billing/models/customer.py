from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import JSONType, UTCDateTime


class Customer(Base):
    """A payer of one merchant."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_merchant_email", "merchant_id", "email"),
        Index("ix_customers_merchant_external", "merchant_id", "external_id"),
        # What tenant-consistent foreign keys refer to: a customer *of that merchant*.
        UniqueConstraint("id", "merchant_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    document: Mapped[str | None] = mapped_column(String(20))
    document_type: Mapped[str | None] = mapped_column(String(4))  # cpf | cnpj
    # A business payer is not covered by the consumer caps on late fees (CDC art. 52).
    is_business: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(8), default="pt-BR")
    external_id: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    gateway_customer_ref: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
