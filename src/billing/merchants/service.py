"""Merchant accounts and API keys. Services take the session first and never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.kit import money
from billing.kit.errors import NotFound, ValidationFailed
from billing.kit.ids import new_id
from billing.kit.secrets import hash_token, token
from billing.models import ApiKey, Merchant

KEY_PREFIX_LEN = 12  # "sk_test_" + 4 characters, enough to recognise a key in a list


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed("timezone", f"unknown IANA time zone {value!r}") from exc
    return value


def check_currency(value: str) -> str:
    try:
        return money.normalize_currency(value)
    except ValueError as exc:
        raise ValidationFailed("currency", str(exc)) from exc


async def create_merchant(
    session: AsyncSession,
    *,
    name: str,
    now: datetime,
    currency: str = "BRL",
    timezone: str = "America/Sao_Paulo",
    live: bool = False,
) -> tuple[Merchant, str]:
    if not name.strip():
        raise ValidationFailed("name", "must not be empty")
    merchant = Merchant(
        id=new_id("mer"),
        name=name.strip(),
        currency=check_currency(currency),
        timezone=check_timezone(timezone),
        created_at=now,
    )
    session.add(merchant)
    await session.flush()
    _, raw = await issue_api_key(session, merchant.id, live=live, now=now)
    return merchant, raw


async def issue_api_key(
    session: AsyncSession, merchant_id: str, *, live: bool, now: datetime
) -> tuple[ApiKey, str]:
    raw = token("sk_live_" if live else "sk_test_", 32)
    key = ApiKey(
        id=new_id("key"),
        merchant_id=merchant_id,
        prefix=raw[:KEY_PREFIX_LEN],
        key_hash=hash_token(raw),
        livemode=live,
        created_at=now,
    )
    session.add(key)
    await session.flush()
    return key, raw


async def authenticate(session: AsyncSession, raw_key: str) -> tuple[Merchant, ApiKey] | None:
    if not raw_key.startswith(("sk_test_", "sk_live_")):
        return None
    row = (
        await session.execute(
            select(Merchant, ApiKey)
            .join(ApiKey, ApiKey.merchant_id == Merchant.id)
            .where(ApiKey.key_hash == hash_token(raw_key), ApiKey.revoked_at.is_(None))
        )
    ).first()
    return (row[0], row[1]) if row else None


async def list_api_keys(session: AsyncSession, merchant_id: str) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.merchant_id == merchant_id).order_by(ApiKey.id)
    return list((await session.scalars(query)).all())


async def revoke_api_key(
    session: AsyncSession, merchant_id: str, key_id: str, *, now: datetime
) -> ApiKey:
    key = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.merchant_id == merchant_id)
    )
    if key is None:
        raise NotFound(f"No API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = now
    await session.flush()
    return key


PROFILE_FIELDS = (
    "name",
    "legal_name",
    "document",
    "address",
    "support_email",
    "support_phone",
    "timezone",
    "currency",
    "brand_color",
    "logo_url",
    "portal_return_url",
)


async def update_profile(
    session: AsyncSession, merchant: Merchant, changes: dict[str, Any], *, now: datetime
) -> Merchant:
    from billing.merchants.validation import validate_profile_change

    clean = validate_profile_change(changes)
    for field, value in clean.items():
        setattr(merchant, field, value)
    await session.flush()
    await record_event(
        session, merchant.id, "merchant.updated", {"changed": sorted(clean)}, now=now
    )
    return merchant
