from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import UTCDateTime


class PaymentReconciliation(Base):
    """When a pending attempt (Pix, boleto, 3-D Secure, a card still processing) is next
    re-read from the gateway, so a lost webhook loses no payment."""

    __tablename__ = "payment_reconciliations"

    attempt_id: Mapped[str] = mapped_column(ForeignKey("payment_attempts.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    checks: Mapped[int] = mapped_column(Integer, default=0)
    # NULL once the attempt is settled or too old to wait for.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(16))
