"""Column types shared by the models."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB

from billing.db import UTCDateTime

# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JSONType: Any = JSON().with_variant(JSONB(), "postgresql")

__all__ = ["JSONType", "UTCDateTime"]
