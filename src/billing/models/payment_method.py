from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import UTCDateTime

ATTACHED = "detached_at IS NULL"


class PaymentMethod(Base):
    """A gateway token and its display details; never a card number (invariant 7)."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        # One saved row per gateway method and customer, so two completions of one card
        # setup racing each other cannot both save it (migration 0015). Removal keeps the
        # row (``detached_at``), so only methods still attached count.
        Index(
            "uq_payment_methods_customer_id_gateway_ref",
            "customer_id",
            "gateway_ref",
            unique=True,
            postgresql_where=text(ATTACHED),
            sqlite_where=text(ATTACHED),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    gateway_ref: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(10))  # card | boleto | pix
    brand: Mapped[str | None] = mapped_column(String(20))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None] = mapped_column(Integer)
    exp_year: Mapped[int | None] = mapped_column(Integer)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when a hard decline makes this method unusable for retries.
    disabled_reason: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    detached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
