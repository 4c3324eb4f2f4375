"""Console sessions: an API key is exchanged once for a cookie session (so the key never
sits in the browser); forms carry a CSRF token bound to that session."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.ids import new_id
from billing.kit.secrets import constant_time_equal, hash_token, token
from billing.merchants.service import authenticate
from billing.models import ApiKey, ConsoleSession, Merchant

SESSION_TTL = timedelta(hours=12)


async def open_session(
    session: AsyncSession, raw_key: str, *, now: datetime
) -> tuple[str, Merchant] | None:
    """A new session for a valid, unrevoked key: the raw token (for the cookie) and the
    merchant; None for a wrong key (the caller shows the same message whatever was wrong)."""
    found = await authenticate(session, raw_key.strip())
    if found is None:
        return None
    merchant, key = found
    raw = token("cs_", 32)
    session.add(
        ConsoleSession(
            id=new_id("cons"), merchant_id=merchant.id, api_key_id=key.id,
            session_hash=hash_token(raw), created_at=now, expires_at=now + SESSION_TTL,
        )
    )  # fmt: skip
    await session.flush()
    return raw, merchant


async def current_merchant(
    session: AsyncSession, raw: str | None, *, now: datetime
) -> Merchant | None:
    """The merchant of a live session: not expired, not logged out, its key not revoked."""
    if not raw:
        return None
    return await session.scalar(
        select(Merchant)
        .join(ConsoleSession, ConsoleSession.merchant_id == Merchant.id)
        .join(ApiKey, ApiKey.id == ConsoleSession.api_key_id)
        .where(
            ConsoleSession.session_hash == hash_token(raw),
            ConsoleSession.ended_at.is_(None),
            ConsoleSession.expires_at > now,
            ApiKey.revoked_at.is_(None),
        )
    )


async def end_session(session: AsyncSession, raw: str | None, *, now: datetime) -> None:
    if raw:
        await session.execute(
            update(ConsoleSession)
            .where(
                ConsoleSession.session_hash == hash_token(raw), ConsoleSession.ended_at.is_(None)
            )
            .values(ended_at=now)
        )


def csrf_token(secret_key: str, raw: str) -> str:
    """Bound to the session cookie, which another site can neither read nor guess."""
    message = f"console-csrf:{hash_token(raw)}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def csrf_ok(secret_key: str, raw: str | None, given: str | None) -> bool:
    return bool(raw and given) and constant_time_equal(
        csrf_token(secret_key, raw or ""), given or ""
    )
