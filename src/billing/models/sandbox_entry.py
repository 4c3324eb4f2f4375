from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base
from billing.models._types import JSONType


class SandboxEntry(Base):
    """The sandbox gateway's state (its "bank"), shared by every process of a deployment."""

    __tablename__ = "sandbox_entries"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)
