"""Merchant webhook endpoints: where our signed events go, and their secrets.

A secret is shown once, when made (create, rotate), and stored encrypted (invariant 7).
After a rotation the previous secret keeps signing for 24 hours, beside the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.kit.errors import NotFound, ValidationFailed
from billing.kit.ids import new_id
from billing.kit.pagination import fetch_page
from billing.kit.secrets import SecretBox
from billing.models import WebhookEndpoint
from billing.webhooks.signing import generate_secret

ROTATION_OVERLAP = timedelta(hours=24)
ALL_EVENTS = "*"


def check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("url", "must be an absolute http(s) URL")
    if len(url) > 2000:
        raise ValidationFailed("url", "must be at most 2000 characters")
    return url.strip()


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise ValidationFailed("events", "list at least one event type, or '*' for all")
    cleaned: list[str] = []
    for name in events:
        if not isinstance(name, str) or not name.strip() or len(name) > 80:
            raise ValidationFailed("events", "each event type is a non-empty string")
        if name.strip() not in cleaned:
            cleaned.append(name.strip())
    return cleaned


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return ALL_EVENTS in endpoint.events or event_type in endpoint.events


def signing_secrets(endpoint: WebhookEndpoint, box: SecretBox, now: datetime) -> list[str]:
    """The current secret, plus the previous one while its overlap lasts."""
    secrets = [box.decrypt(endpoint.secret_encrypted)]
    if (
        endpoint.previous_secret_encrypted
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        secrets.append(box.decrypt(endpoint.previous_secret_encrypted))
    return secrets


async def create_endpoint(
    session: AsyncSession,
    merchant_id: str,
    *,
    url: str,
    events: list[str],
    description: str | None,
    box: SecretBox,
    now: datetime,
) -> tuple[WebhookEndpoint, str]:
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        merchant_id=merchant_id,
        url=check_url(url),
        description=description,
        events=check_events(events),
        enabled=True,
        secret_encrypted=box.encrypt(secret),
        created_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def get_endpoint(
    session: AsyncSession, merchant_id: str, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.merchant_id == merchant_id,
        WebhookEndpoint.deleted_at.is_(None),
    )
    if for_update:
        query = query.with_for_update()
    endpoint = await session.scalar(query)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}")
    return endpoint


async def list_endpoints(
    session: AsyncSession, merchant_id: str, *, limit: int, starting_after: str | None
) -> tuple[Sequence[WebhookEndpoint], bool]:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.deleted_at.is_(None)
    )
    return await fetch_page(
        session, query, WebhookEndpoint.id, limit=limit, starting_after=starting_after
    )


async def update_endpoint(
    session: AsyncSession,
    merchant_id: str,
    endpoint_id: str,
    *,
    url: str | None,
    events: list[str] | None,
    enabled: bool | None,
    description: str | None,
    now: datetime,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, merchant_id, endpoint_id, for_update=True)
    if url is not None:
        endpoint.url = check_url(url)
    if events is not None:
        endpoint.events = check_events(events)
    if description is not None:
        endpoint.description = description
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        endpoint.disabled_at = None if enabled else now
        endpoint.disabled_reason = None if enabled else "merchant"
    await session.flush()
    return endpoint


async def rotate_secret(
    session: AsyncSession, merchant_id: str, endpoint_id: str, *, box: SecretBox, now: datetime
) -> tuple[WebhookEndpoint, str]:
    endpoint = await get_endpoint(session, merchant_id, endpoint_id, for_update=True)
    secret = generate_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret_encrypted = box.encrypt(secret)
    await session.flush()
    return endpoint, secret


async def delete_endpoint(
    session: AsyncSession, merchant_id: str, endpoint_id: str, *, now: datetime
) -> WebhookEndpoint:
    """Soft delete: its delivery log stays for the merchant's audit, nothing is sent again."""
    endpoint = await get_endpoint(session, merchant_id, endpoint_id, for_update=True)
    endpoint.deleted_at = now
    endpoint.enabled = False
    endpoint.disabled_at = endpoint.disabled_at or now
    endpoint.disabled_reason = endpoint.disabled_reason or "deleted"
    await session.flush()
    return endpoint


async def disable_for_failures(
    session: AsyncSession, endpoint: WebhookEndpoint, *, now: datetime
) -> None:
    """Every retry of a delivery failed for three days: stop sending and tell the merchant."""
    if not endpoint.enabled:
        return
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = "failing"
    await session.flush()
    await record_event(
        session,
        endpoint.merchant_id,
        "webhook_endpoint.disabled",
        {"webhook_endpoint_id": endpoint.id, "url": endpoint.url, "reason": "failing"},
        now=now,
    )
