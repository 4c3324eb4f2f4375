from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import UTCDateTime


class PortalSession(Base):
    """A payer's way into the portal: a single-use link token, then a cookie session.

    Both secrets are stored only as SHA-256 hashes (invariant 7). ``redeemed_at`` makes the
    link single-use: redemption is one conditional UPDATE, so two clicks cannot both win.
    """

    __tablename__ = "portal_sessions"
    __table_args__ = (Index("ix_portal_sessions_customer", "merchant_id", "customer_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    link_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(8))  # api | email
    locale: Mapped[str] = mapped_column(String(8))
    return_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    link_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # logout


class PortalLoginAttempt(Base):
    """One request for a login link, counted per e-mail and per IP for the rate limit.

    Keys are hashes (an e-mail address or an IP is personal data we need not keep).
    """

    __tablename__ = "portal_login_attempts"
    __table_args__ = (Index("ix_portal_login_attempts_key", "kind", "key_hash", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))  # email | ip
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
