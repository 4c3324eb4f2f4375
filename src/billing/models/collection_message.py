from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
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


class CollectionMessage(Base):
    """The notification outbox: one row per (installment, ruler step), delivered by jobs.

    The unique (invoice_id, step_key) is what makes a ruler step impossible to send twice,
    however often or concurrently the ruler sweep runs.
    """

    __tablename__ = "collection_messages"
    __table_args__ = (
        UniqueConstraint("invoice_id", "step_key"),
        # The customer is one of this merchant's (migration 0014).
        ForeignKeyConstraint(
            ["customer_id", "merchant_id"], ["customers.id", "customers.merchant_id"]
        ),
        # The delivery sweep's selector: pending rows whose time has come.
        Index("ix_collection_messages_due", "status", "deliver_at"),
        Index("ix_collection_messages_customer", "merchant_id", "customer_id", "sent_at"),
        # The delivery sweep's keyset walk over pending messages only (migration 0008).
        Index(
            "ix_collection_messages_pending",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"))
    step_key: Mapped[str] = mapped_column(String(40))  # e.g. "+7:email"
    offset_days: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(12))  # email | sms | whatsapp | webhook
    template: Mapped[str] = mapped_column(String(32))
    tone: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(10))  # pending | sent | failed | skipped
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the step's own time
    # When delivery is next due: moved by quiet hours, the weekly cap and retry backoff.
    deliver_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    recipient: Mapped[str | None] = mapped_column(String(320))
    rendered_template: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_message_id: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
