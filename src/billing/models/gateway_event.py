from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import JSONType, UTCDateTime


class GatewayEvent(Base):
    """The inbox: every gateway event, stored before it is acknowledged (invariant 4).

    Status: ``received`` (waiting) → ``processed`` | ``ignored`` (no handler), or ``failed``
    (a handler raised; retried at ``next_attempt_at`` until the attempts run out).
    """

    __tablename__ = "gateway_events"
    __table_args__ = (
        # The gateway redelivers; one row per (provider, event id) whoever receives it.
        UniqueConstraint("provider", "event_id"),
        # The sweep's selector: due rows that still need work.
        Index("ix_gateway_events_due", "status", "next_attempt_at"),
        Index("ix_gateway_events_merchant_status", "merchant_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(120))
    livemode: Mapped[bool | None] = mapped_column(Boolean)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
