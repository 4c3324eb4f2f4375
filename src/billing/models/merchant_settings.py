from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import JSONType


class MerchantSettings(Base):
    """A merchant's policies, one JSON document per section; NULL means the defaults."""

    __tablename__ = "merchant_settings"

    merchant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("merchants.id"), primary_key=True
    )
    gateway: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Stripe's pk_…: public by design (Stripe.js in the payer's browser uses it), so kept in
    # clear beside the gateway document whose secrets are encrypted.
    gateway_publishable_key: Mapped[str | None] = mapped_column(String(255))
    channels: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    dunning: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    collection: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    late_fees: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    negotiation: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
