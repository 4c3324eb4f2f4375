"""Portal access: single-use links, cookie sessions, CSRF tokens, logout.

A link token is swapped once for a session token (both random, stored hashed). The CSRF
token is derived from the session id with the deployment's secret key, so it needs no
column and cannot be guessed without the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.errors import NotFound, ValidationFailed
from billing.kit.ids import new_id
from billing.kit.secrets import constant_time_equal, hash_token, token
from billing.models import Customer, Merchant, PortalSession
from billing.portal.i18n import portal_locale

LINK_PREFIX = "pl_"
SESSION_PREFIX = "pss_"
LINK_TTL = timedelta(minutes=10)
EMAIL_LINK_TTL = timedelta(minutes=15)  # e-mail can take a few minutes to arrive
SESSION_TTL = timedelta(hours=2)


class PortalAccessError(Exception):
    """A link or session that does not grant access; ``reason`` picks the message."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class MerchantFace:
    """What the portal prints about the merchant: a plain copy, usable after a rollback."""

    id: str
    name: str
    legal_name: str | None
    document: str | None
    support_email: str | None
    support_phone: str | None
    address: dict[str, Any] | None
    timezone: str
    brand_color: str | None
    logo_url: str | None

    @classmethod
    def of(cls, m: Merchant) -> MerchantFace:
        return cls(
            m.id,
            m.name,
            m.legal_name,
            m.document,
            m.support_email,
            m.support_phone,
            m.address,
            m.timezone,
            m.brand_color,
            m.logo_url,
        )


@dataclass(frozen=True)
class Payer:
    """Who is looking at the portal: one customer of one merchant, nothing more."""

    session_id: str
    merchant_id: str
    customer_id: str
    locale: str
    return_url: str | None
    customer_name: str
    customer_email: str
    merchant: MerchantFace


def csrf_token(secret_key: str, session_raw: str) -> str:
    """Bound to the session cookie: a form from another session (or site) never matches."""
    message = f"portal-csrf:{hash_token(session_raw)}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def csrf_ok(secret_key: str, session_raw: str, given: str | None) -> bool:
    return bool(given) and constant_time_equal(csrf_token(secret_key, session_raw), given or "")


def check_return_url(url: str | None) -> str | None:
    if url is None or url == "":
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise ValidationFailed("return_url", "must be an absolute http(s) URL")
    return url


async def create_session(
    session: AsyncSession,
    merchant_id: str,
    *,
    customer_id: str,
    now: datetime,
    return_url: str | None = None,
    locale: str | None = None,
    source: str = "api",
    ttl: timedelta = LINK_TTL,
) -> tuple[PortalSession, str]:
    """A new portal session with its single-use link token (returned raw, stored hashed)."""
    row = (
        await session.execute(
            select(Customer.locale, Merchant.portal_return_url)
            .join(Merchant, Merchant.id == Customer.merchant_id)
            .where(Customer.id == customer_id, Customer.merchant_id == merchant_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"No customer {customer_id}")
    raw = token(LINK_PREFIX, 32)
    portal = PortalSession(
        id=new_id("ps"),
        merchant_id=merchant_id,
        customer_id=customer_id,
        link_hash=hash_token(raw),
        source=source,
        locale=portal_locale(locale or row[0]),
        return_url=check_return_url(return_url) or row[1],
        created_at=now,
        link_expires_at=now + ttl,
    )
    session.add(portal)
    await session.flush()
    return portal, raw


async def check_link(session: AsyncSession, raw: str, *, now: datetime) -> tuple[MerchantFace, str]:
    """Whether a link token would open the portal, without using it up: what the
    "Continue" page shows (merchant and language) before the payer's click redeems it."""
    if not raw.startswith(LINK_PREFIX) or len(raw) > 100:
        raise PortalAccessError("link_invalid", 404)
    row = (
        await session.execute(
            select(
                PortalSession.redeemed_at,
                PortalSession.link_expires_at,
                PortalSession.locale,
                *FACE_COLUMNS,
            )
            .join(Merchant, Merchant.id == PortalSession.merchant_id)
            .where(PortalSession.link_hash == hash_token(raw))
        )
    ).first()
    if row is None:
        raise PortalAccessError("link_invalid", 404)
    if row[0] is not None:
        raise PortalAccessError("link_used", 410)
    if row[1] <= now:
        raise PortalAccessError("link_expired", 410)
    return MerchantFace(*row[3:]), row[2]


async def redeem_link(session: AsyncSession, raw: str, *, now: datetime) -> tuple[str, str]:
    """Swap a link token for a session token: (session id, raw session token).

    One conditional UPDATE: of two concurrent clicks exactly one matches the row.
    """
    if not raw.startswith(LINK_PREFIX) or len(raw) > 100:
        raise PortalAccessError("link_invalid", 404)
    link_hash = hash_token(raw)
    session_raw = token(SESSION_PREFIX, 32)
    result = await session.execute(
        update(PortalSession)
        .where(
            PortalSession.link_hash == link_hash,
            PortalSession.redeemed_at.is_(None),
            PortalSession.link_expires_at > now,
        )
        .values(
            redeemed_at=now,
            session_hash=hash_token(session_raw),
            session_expires_at=now + SESSION_TTL,
        )
        .returning(PortalSession.id)
    )
    session_id = result.scalar_one_or_none()
    if session_id is not None:
        return session_id, session_raw
    found = await session.scalar(
        select(PortalSession.redeemed_at).where(PortalSession.link_hash == link_hash)
    )
    exists = await session.scalar(
        select(PortalSession.id).where(PortalSession.link_hash == link_hash)
    )
    if exists is None:
        raise PortalAccessError("link_invalid", 404)
    raise PortalAccessError("link_used" if found is not None else "link_expired", 410)


FACE_COLUMNS = (
    Merchant.id,
    Merchant.name,
    Merchant.legal_name,
    Merchant.document,
    Merchant.support_email,
    Merchant.support_phone,
    Merchant.address,
    Merchant.timezone,
    Merchant.brand_color,
    Merchant.logo_url,
)
# What a page knows of its payer (``payer_of`` reads a row of these, in this order).
PAYER_COLUMNS = (
    PortalSession.id,
    PortalSession.merchant_id,
    PortalSession.customer_id,
    PortalSession.locale,
    PortalSession.return_url,
    Customer.name,
    Customer.email,
    *FACE_COLUMNS,
)
# A session cookie opens the portal while its session is neither ended nor expired: the
# one rule for every page, the overview's single statement included.
LIVE_SESSION = (
    PortalSession.session_hash == bindparam("session_hash"),
    PortalSession.ended_at.is_(None),
    PortalSession.session_expires_at > bindparam("now"),
)
# Every portal request runs this: one lookup by the unique session_hash index, joined to
# the customer and the merchant, selecting plain columns (no ORM objects to build).
_AUTHENTICATE = (
    select(*PAYER_COLUMNS)
    .join(
        Customer,
        (Customer.id == PortalSession.customer_id)
        & (Customer.merchant_id == PortalSession.merchant_id),
    )
    .join(Merchant, Merchant.id == PortalSession.merchant_id)
    .where(*LIVE_SESSION)
)


def looks_like_session(raw: str | None) -> TypeGuard[str]:
    """Worth a lookup: our prefix and a sane length (anything else is refused unread)."""
    return raw is not None and raw.startswith(SESSION_PREFIX) and len(raw) <= 100


def payer_of(row: Sequence[Any]) -> Payer:
    """The payer from the values of ``PAYER_COLUMNS``."""
    return Payer(
        session_id=row[0],
        merchant_id=row[1],
        customer_id=row[2],
        locale=row[3],
        return_url=row[4],
        customer_name=row[5],
        customer_email=row[6],
        merchant=MerchantFace(*row[7 : len(PAYER_COLUMNS)]),
    )


async def authenticate(session: AsyncSession, raw: str | None, *, now: datetime) -> Payer:
    """The payer of a live session cookie; one query for session, customer and merchant."""
    if not looks_like_session(raw):
        raise PortalAccessError("session", 401)
    # Every portal page runs this: Core rows through the connection, not the ORM's path.
    connection = await session.connection()
    row = (
        await connection.execute(_AUTHENTICATE, {"session_hash": hash_token(raw), "now": now})
    ).first()
    if row is None:
        raise PortalAccessError("session", 401)
    return payer_of(row)


async def end_session(session: AsyncSession, payer: Payer, *, now: datetime) -> None:
    await session.execute(
        update(PortalSession)
        .where(PortalSession.id == payer.session_id, PortalSession.ended_at.is_(None))
        .values(ended_at=now)
    )


async def set_locale(session: AsyncSession, payer: Payer, locale: str) -> str:
    chosen = portal_locale(locale)
    await session.execute(
        update(PortalSession).where(PortalSession.id == payer.session_id).values(locale=chosen)
    )
    return chosen
