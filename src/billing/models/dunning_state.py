from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import UTCDateTime

_WAITING = "final_action IS NULL AND status IN ('exhausted', 'awaiting_payer')"


class DunningState(Base):
    """Where automatic collection of one installment stands, written by the retry planner.

    ``last_attempt_id`` is the failed attempt the planner last acted on: a failure is planned
    exactly once, and a repeated sweep finds nothing new.
    """

    __tablename__ = "dunning_states"
    __table_args__ = (
        # Only the states that wait for a final action (migration 0014).
        Index(
            "ix_dunning_states_final",
            "final_action_at",
            postgresql_where=text(_WAITING),
            sqlite_where=text(_WAITING),
        ),
        # The customer is one of this merchant's (migration 0014).
        ForeignKeyConstraint(
            ["customer_id", "merchant_id"], ["customers.id", "customers.merchant_id"]
        ),
    )

    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), index=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    last_attempt_id: Mapped[str] = mapped_column(String(40))
    payment_method_id: Mapped[str | None] = mapped_column(String(40))
    failures: Mapped[int] = mapped_column(Integer)  # counted failures on that method
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decline_type: Mapped[str | None] = mapped_column(String(24))
    decline_code: Mapped[str | None] = mapped_column(String(60))
    # retrying | awaiting_payer (hard decline, authentication) | exhausted | final_action_taken
    status: Mapped[str] = mapped_column(String(20))
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_action: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
