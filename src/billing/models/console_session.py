from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import UTCDateTime


class ConsoleSession(Base):
    """A merchant console login: an API key exchanged for a cookie session. Only the
    SHA-256 of the cookie's token is stored (invariant 7); the key that opened it is kept
    so that revoking the key ends the session too."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_merchant", "merchant_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # logout
