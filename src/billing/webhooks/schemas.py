"""Request and response shapes for webhook endpoints, deliveries and the gateway inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from billing.models import GatewayEvent, WebhookDelivery, WebhookEndpoint


class EndpointCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    events: list[str]
    description: str | None = None


class EndpointUpdate(msgspec.Struct, forbid_unknown_fields=True):
    url: str | None = None
    events: list[str] | None = None
    enabled: bool | None = None
    description: str | None = None


class EndpointOut(msgspec.Struct):
    id: str
    url: str
    events: list[str]
    enabled: bool
    description: str | None
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None
    # Only in the answers to create and rotate_secret: it is never shown again.
    secret: str | None = None

    @classmethod
    def of(cls, e: WebhookEndpoint, secret: str | None = None) -> EndpointOut:
        return cls(
            id=e.id,
            url=e.url,
            events=list(e.events),
            enabled=e.enabled,
            description=e.description,
            created_at=e.created_at,
            disabled_at=e.disabled_at,
            disabled_reason=e.disabled_reason,
            secret=secret,
        )


class EndpointList(msgspec.Struct):
    data: list[EndpointOut]
    has_more: bool


class DeliveryOut(msgspec.Struct):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempt_count: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, d: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=d.id,
            endpoint_id=d.endpoint_id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=d.status,
            attempt_count=d.attempts,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            last_attempt_at=d.last_attempt_at,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
        )


class DeliveryList(msgspec.Struct):
    data: list[DeliveryOut]
    has_more: bool


class GatewayEventOut(msgspec.Struct):
    id: str
    provider: str
    event_id: str
    type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    outcome: str | None
    received_at: datetime
    processed_at: datetime | None
    payload: dict[str, Any] | None = None

    @classmethod
    def of(cls, g: GatewayEvent, *, with_payload: bool = False) -> GatewayEventOut:
        return cls(
            id=g.id,
            provider=g.provider,
            event_id=g.event_id,
            type=g.type,
            status=g.status,
            attempts=g.attempts,
            next_attempt_at=g.next_attempt_at,
            last_error=g.last_error,
            outcome=g.outcome,
            received_at=g.received_at,
            processed_at=g.processed_at,
            payload=g.payload if with_payload else None,
        )


class GatewayEventList(msgspec.Struct):
    data: list[GatewayEventOut]
    has_more: bool


class Received(msgspec.Struct):
    received: bool
    duplicate: bool
    id: str
