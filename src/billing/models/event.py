from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import JSONType, UTCDateTime


class Event(Base):
    """The merchant's event log (``GET /v1/events``); the source of outgoing webhooks."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_merchant_type", "merchant_id", "type"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Served by ix_events_merchant_type's leading column; a second index only slows inserts.
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    type: Mapped[str] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set by the dispatch job once the event has been fanned out to webhook endpoints.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
