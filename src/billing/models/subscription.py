from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import UTCDateTime


class Subscription(Base):
    """A customer on a plan. Periods are computed from ``anchor_at`` (see subscriptions/periods)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        # The billing run's selector: what renews next, read in time order (migration 0009).
        Index(
            "ix_subscriptions_renewal_due",
            "current_period_end",
            postgresql_where=text("status IN ('active', 'past_due', 'trialing')"),
            sqlite_where=text("status IN ('active', 'past_due', 'trialing')"),
        ),
        Index("ix_subscriptions_merchant_customer", "merchant_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    payment_method_id: Mapped[str | None] = mapped_column(ForeignKey("payment_methods.id"))
    status: Mapped[str] = mapped_column(String(12))
    collection_method: Mapped[str] = mapped_column(String(24), default="charge_automatically")
    days_until_due: Mapped[int] = mapped_column(Integer, default=3)
    anchor_at: Mapped[datetime] = mapped_column(UTCDateTime)
    period_index: Mapped[int] = mapped_column(Integer, default=0)
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cycles_billed: Mapped[int] = mapped_column(Integer, default=0)
    # Unused time of a downgrade, owed to the customer and taken off the next invoice(s).
    pending_credit: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
