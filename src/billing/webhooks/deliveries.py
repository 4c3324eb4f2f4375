"""Outgoing merchant webhooks: the outbox rows, sending one, and what a result does.

A delivery row is written by the event's dispatch job (the event itself is committed with
the change it describes). Sending claims the row with a short lease in its own
transaction, POSTs outside any transaction, then records the result: a crash between the
two only means the lease runs out and the event is sent again, with the same
``webhook-id`` so the receiver drops the repeat.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from billing.jobs import enqueue_after_commit
from billing.kit.errors import Conflict, NotFound
from billing.kit.ids import new_id
from billing.kit.pagination import fetch_page
from billing.kit.secrets import SecretBox
from billing.models import Event, WebhookDelivery, WebhookEndpoint
from billing.webhooks import signing
from billing.webhooks.endpoints import disable_for_failures, get_endpoint, signing_secrets, wants

DELIVER_JOB = "webhooks.deliver"
# Waits after the 1st, 2nd, … failed attempt; the last one repeats until the window ends.
SCHEDULE = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
]
RETRY_WINDOW = timedelta(days=3)
LEASE = timedelta(seconds=60)  # longer than the HTTP timeout: one sender at a time
TIMEOUT_SECONDS = 10.0


def retry_delay(attempts: int) -> timedelta:
    """The wait after ``attempts`` failures, ±10 % jitter so retries do not stampede."""
    base = SCHEDULE[min(attempts, len(SCHEDULE)) - 1]
    return base * (0.9 + random.random() / 5)


def job_id(delivery_id: str, attempts: int) -> str:
    return f"deliver:{delivery_id}:{attempts}"


def event_body(event: Event) -> bytes:
    """What the merchant receives: the event as GET /v1/events/{id} shows it."""
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
            "data": event.data,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


async def fan_out(session: AsyncSession, event: Event, *, now: datetime) -> list[str]:
    """One delivery per enabled endpoint of the merchant that wants this type; repeat-safe."""
    endpoints = (
        await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.merchant_id == event.merchant_id,
                WebhookEndpoint.enabled.is_(True),
                WebhookEndpoint.deleted_at.is_(None),
            )
        )
    ).all()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    created: list[str] = []
    for endpoint in endpoints:
        if not wants(endpoint, event.type):
            continue
        delivery_id = await session.scalar(
            dialect.insert(WebhookDelivery)
            .values(
                id=new_id("whd"),
                merchant_id=event.merchant_id,
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type=event.type,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                first_attempt_due_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
            .returning(WebhookDelivery.id)
        )
        if delivery_id is not None:
            enqueue_after_commit(
                session, DELIVER_JOB, job_id=job_id(delivery_id, 0), delivery_id=delivery_id
            )
            created.append(delivery_id)
    return created


@dataclass(frozen=True)
class Claimed:
    delivery_id: str
    attempts: int
    url: str
    body: bytes
    headers: dict[str, str]


async def claim(
    session: AsyncSession, delivery_id: str, *, box: SecretBox, now: datetime
) -> Claimed | None:
    """Take the delivery for one send if it is due and its endpoint is enabled."""
    row = (
        await session.execute(
            select(WebhookDelivery, WebhookEndpoint, Event)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == delivery_id)
        )
    ).first()
    if row is None:
        return None
    delivery, endpoint, event = row
    if delivery.status != "pending" or not endpoint.enabled or endpoint.deleted_at is not None:
        return None
    if delivery.next_attempt_at is None or delivery.next_attempt_at > now:
        return None
    taken = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == delivery.attempts,
            WebhookDelivery.next_attempt_at == delivery.next_attempt_at,
        )
        .values(next_attempt_at=now + LEASE)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return None  # another sender took it first
    body = event_body(event)
    # Signed at the wall-clock time, not the (possibly simulated) billing clock: the
    # receiver checks the timestamp against its own real clock to refuse replays.
    headers = signing.headers(signing_secrets(endpoint, box, now), event.id, int(time.time()), body)
    headers["content-type"] = "application/json"
    headers["user-agent"] = "billing-webhooks/1"
    return Claimed(delivery.id, delivery.attempts, endpoint.url, body, headers)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None
    error: str | None


async def send(claimed: Claimed, client: httpx.AsyncClient) -> SendResult:
    try:
        response = await client.post(
            claimed.url, content=claimed.body, headers=claimed.headers, timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        return SendResult(False, None, f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return SendResult(True, response.status_code, None)
    return SendResult(
        False, response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"
    )


async def record_result(
    session: AsyncSession, claimed: Claimed, result: SendResult, *, now: datetime
) -> str:
    """Write what happened; returns the delivery's new status."""
    delivery = await session.get(WebhookDelivery, claimed.delivery_id, with_for_update=True)
    if delivery is None or delivery.status != "pending" or delivery.attempts != claimed.attempts:
        return "stale"  # recorded by someone else (an expired lease taken over)
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
    assert endpoint is not None
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    if result.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "succeeded", now, None
        endpoint.last_success_at = now
        await session.flush()
        return "succeeded"
    next_at = now + retry_delay(delivery.attempts)
    if next_at - delivery.first_attempt_due_at <= RETRY_WINDOW:
        delivery.next_attempt_at = next_at
        await session.flush()
        return "pending"
    delivery.status, delivery.next_attempt_at = "failed", None
    await session.flush()
    # Nothing reached this endpoint since this delivery began, three days ago.
    if endpoint.last_success_at is None or endpoint.last_success_at < delivery.first_attempt_due_at:
        await disable_for_failures(session, endpoint, now=now)
    return "failed"


async def due_deliveries(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[str, int]]:
    """Pending deliveries whose time has come, on enabled endpoints (the sweep's selector)."""
    rows = await session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending delivery is due (the sandbox clock steps to it)."""
    found: datetime | None = await session.scalar(
        select(WebhookDelivery.next_attempt_at)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == "pending", WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(1)
    )
    return found


async def list_deliveries(
    session: AsyncSession,
    merchant_id: str,
    endpoint_id: str,
    *,
    status: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[Sequence[WebhookDelivery], bool]:
    await get_endpoint(session, merchant_id, endpoint_id)
    query = select(WebhookDelivery).where(
        WebhookDelivery.merchant_id == merchant_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    return await fetch_page(
        session, query, WebhookDelivery.id, limit=limit, starting_after=starting_after
    )


async def redeliver(
    session: AsyncSession, merchant_id: str, endpoint_id: str, delivery_id: str, *, now: datetime
) -> WebhookDelivery:
    """Send a delivery again now, whatever its status; a fresh three-day window starts."""
    endpoint = await get_endpoint(session, merchant_id, endpoint_id)
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.merchant_id == merchant_id,
            WebhookDelivery.endpoint_id == endpoint_id,
        )
        .with_for_update()
    )
    if delivery is None:
        raise NotFound(f"No delivery {delivery_id}")
    if not endpoint.enabled:
        raise Conflict(
            "This endpoint is disabled; enable it (PATCH enabled=true) before redelivering.",
            code="endpoint_disabled",
        )
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.first_attempt_due_at = now
    await session.flush()
    enqueue_after_commit(
        session, DELIVER_JOB, job_id=job_id(delivery.id, delivery.attempts), delivery_id=delivery.id
    )
    return delivery
