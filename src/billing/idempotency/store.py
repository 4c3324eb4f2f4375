"""How long idempotency keys are kept, and their clean-up."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import IdempotencyKey

# API.md promises at least 24 hours; we keep them a little longer.
RETENTION = timedelta(hours=24)
PURGE_AFTER = timedelta(hours=48)


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < now - PURGE_AFTER)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
