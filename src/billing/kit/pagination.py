"""Cursor pagination (``?limit=&starting_after=``) over time-ordered ids, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from billing.kit.errors import ValidationFailed

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T]):
    data: list[T]
    has_more: bool


def check_limit(limit: int) -> int:
    if not 1 <= limit <= 100:
        raise ValidationFailed("limit", "must be between 1 and 100")
    return limit


async def fetch_page(
    session: AsyncSession,
    query: Select[Any],
    id_column: InstrumentedAttribute[str],
    *,
    limit: int,
    starting_after: str | None,
) -> tuple[Sequence[Any], bool]:
    """Rows newer-first after the cursor; one extra row tells whether there is more."""
    check_limit(limit)
    if starting_after:
        query = query.where(id_column < starting_after)
    rows = (await session.scalars(query.order_by(id_column.desc()).limit(limit + 1))).all()
    return rows[:limit], len(rows) > limit
