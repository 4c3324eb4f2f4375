"""The gateway event inbox: verify, store once per (provider, event id), then process later.

Invariant 4: an event is acknowledged only once its row is committed; a repeat of the same
event id finds the row and stores nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.config import Settings
from billing.gateways import InvalidSignature
from billing.gateways.webhook import verify_event
from billing.jobs import enqueue_after_commit
from billing.kit.errors import NotFound, ProblemError, ValidationFailed
from billing.kit.pagination import fetch_page
from billing.kit.secrets import SecretBox
from billing.models import GatewayEvent, Merchant, MerchantSettings
from billing.payments.gateway_registry import config_from_stored

PROCESS_JOB = "webhooks.process_gateway_event"
STATUSES = ("received", "processed", "ignored", "failed")


class InvalidWebhookSignature(ProblemError):
    status = 400
    code = "invalid_signature"


# Secrets are re-read at most this often per process: one query fewer on the hot path; a
# secret changed with PUT /v1/settings/gateway is in force within this time (Stripe retries).
SECRETS_TTL_SECONDS = 10.0


def cached_secrets(cache: dict[str, tuple[float, list[str]]], merchant_id: str) -> list[str] | None:
    """The merchant's secrets if read less than ``SECRETS_TTL_SECONDS`` ago, else None."""
    hit = cache.get(merchant_id)
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


async def stripe_endpoint_secrets(
    session: AsyncSession,
    box: SecretBox,
    settings: Settings,
    merchant_id: str,
    *,
    cache: dict[str, tuple[float, list[str]]] | None = None,
) -> list[str]:
    """The secrets a Stripe event for this merchant may be signed with; 404 if no merchant."""
    if cache is not None:
        hit = cached_secrets(cache, merchant_id)
        if hit is not None:
            return hit
    row = (
        await session.execute(
            select(Merchant.id, MerchantSettings.gateway)
            .outerjoin(MerchantSettings, MerchantSettings.merchant_id == Merchant.id)
            .where(Merchant.id == merchant_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"No merchant {merchant_id}")
    secrets: list[str] = []
    config = config_from_stored(row[1], box, settings.gateway)
    if config.webhook_secret:
        secrets.append(config.webhook_secret)
    if settings.stripe_webhook_secret:
        secrets.append(settings.stripe_webhook_secret)
    if cache is not None:
        if len(cache) > 10_000:
            cache.clear()  # bounded: a flood of merchant ids cannot grow it without end
        cache[merchant_id] = (time.monotonic() + SECRETS_TTL_SECONDS, secrets)
    return secrets


def verify_stripe_event(
    *, payload: bytes, headers: Mapping[str, str], secrets: list[str], now: datetime
) -> dict[str, Any]:
    """The verified event (signature within 300 s, a string id and type) or a 4xx problem."""
    if not secrets:
        raise InvalidWebhookSignature(
            "No Stripe webhook secret is configured for this merchant: "
            "PUT /v1/settings/gateway with webhook_secret."
        )
    try:
        event = verify_event(payload=payload, headers=headers, secret=secrets, now=now)
    except InvalidSignature as exc:
        raise InvalidWebhookSignature(f"Stripe-Signature rejected: {exc}.") from None
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise ValidationFailed("body", "a Stripe event needs a string id and type")
    return event


async def list_gateway_events(
    session: AsyncSession,
    merchant_id: str,
    *,
    status: str | None,
    type: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[Sequence[GatewayEvent], bool]:
    if status is not None and status not in STATUSES:
        raise ValidationFailed("status", f"must be one of {', '.join(STATUSES)}")
    query = select(GatewayEvent).where(GatewayEvent.merchant_id == merchant_id)
    if status:
        query = query.where(GatewayEvent.status == status)
    if type:
        query = query.where(GatewayEvent.type == type)
    return await fetch_page(
        session, query, GatewayEvent.id, limit=limit, starting_after=starting_after
    )


async def get_gateway_event(session: AsyncSession, merchant_id: str, inbox_id: str) -> GatewayEvent:
    row = await session.scalar(
        select(GatewayEvent).where(
            GatewayEvent.id == inbox_id, GatewayEvent.merchant_id == merchant_id
        )
    )
    if row is None:
        raise NotFound(f"No webhook event {inbox_id}")
    return row


async def retry_gateway_event(
    session: AsyncSession, merchant_id: str, inbox_id: str, *, now: datetime
) -> GatewayEvent:
    """An operator asks for a failed event to be processed again now."""
    row = await get_gateway_event(session, merchant_id, inbox_id)
    if row.status != "failed":
        raise ProblemError(
            f"Only failed events are retried; this one is {row.status}.",
            status=409,
            code="invalid_state_transition",
        )
    await session.execute(
        update(GatewayEvent)
        .where(GatewayEvent.id == row.id, GatewayEvent.status == "failed")
        .values(next_attempt_at=now)
    )
    row.next_attempt_at = now
    enqueue_after_commit(session, PROCESS_JOB, job_id=f"gwe:{row.id}:retry", inbox_id=row.id)
    return row
