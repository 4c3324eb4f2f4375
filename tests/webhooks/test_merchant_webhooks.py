"""Outgoing merchant webhooks: endpoints, Standard Webhooks signatures, retries, redelivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from standardwebhooks import Webhook

from billing.db import unit_of_work
from billing.events.service import record_event
from billing.kit.clock import FixedClock
from billing.models import Event, WebhookDelivery
from billing.queue import InlineDispatcher
from billing.runtime import Runtime
from billing.webhooks.tasks import delivery_sweep
from tests.conftest import Database, MerchantAccount, app_client, make_runtime, new_merchant
from tests.webhooks.conftest import Receiver


@pytest.fixture
async def fresh_runtime(fresh_database: Database, clock: FixedClock) -> AsyncIterator[Runtime]:
    """Sweeps are global: these tests get a database of their own."""
    rt = await make_runtime(fresh_database, clock)
    yield rt
    await rt.close()


async def _emit(runtime: Runtime, merchant_id: str, type: str = "invoice.paid") -> str:
    async with unit_of_work(runtime.session_factory) as session:
        event = await record_event(
            session,
            merchant_id,
            type,
            {"invoice_id": "inv_1", "amount_paid": 4990},
            now=runtime.clock.now(),
        )
    assert isinstance(runtime.dispatcher, InlineDispatcher)
    await runtime.dispatcher.drain()
    return event.id


async def _deliveries(runtime: Runtime, endpoint_id: str) -> list[WebhookDelivery]:
    async with runtime.session_factory() as session:
        return list(
            await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
            )
        )


async def _create(
    client: httpx.AsyncClient, merchant: MerchantAccount, url: str, events: list[str]
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhook_endpoints", json={"url": url, "events": events}, headers=merchant.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_endpoint_crud_secret_shown_once_and_encrypted(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    created = await _create(client, merchant, "https://merchant.example/hooks", ["invoice.paid"])
    assert created["id"].startswith("we_") and created["secret"].startswith("whsec_")
    shown = await client.get(f"/v1/webhook_endpoints/{created['id']}", headers=merchant.headers)
    assert shown.status_code == 200 and shown.json()["secret"] is None
    listed = await client.get("/v1/webhook_endpoints", headers=merchant.headers)
    assert [e["secret"] for e in listed.json()["data"]] == [None]
    async with runtime.session_factory() as session:
        dump = " ".join(
            str(r) for r in (await session.execute(text("SELECT * FROM webhook_endpoints"))).all()
        )
    assert created["secret"] not in dump
    assert created["secret"].removeprefix("whsec_") not in dump

    patched = await client.patch(
        f"/v1/webhook_endpoints/{created['id']}",
        json={"events": ["invoice.paid", "invoice.payment_failed"], "enabled": False},
        headers=merchant.headers,
    )
    assert patched.json()["events"] == ["invoice.paid", "invoice.payment_failed"]
    assert patched.json()["enabled"] is False
    bad = await client.post(
        "/v1/webhook_endpoints", json={"url": "ftp://x", "events": ["a"]}, headers=merchant.headers
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url"
    rotated = await client.post(
        f"/v1/webhook_endpoints/{created['id']}/rotate_secret", headers=merchant.headers
    )
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    deleted = await client.delete(
        f"/v1/webhook_endpoints/{created['id']}", headers=merchant.headers
    )
    assert deleted.status_code == 200
    gone = await client.get(f"/v1/webhook_endpoints/{created['id']}", headers=merchant.headers)
    assert gone.status_code == 404


async def test_other_merchant_gets_404(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    created = await _create(client, merchant, "https://merchant.example/hooks", ["*"])
    await _emit(runtime, merchant.id)
    [delivery] = await _deliveries(runtime, created["id"])
    other = await new_merchant(runtime, "Outra Loja")
    base = f"/v1/webhook_endpoints/{created['id']}"
    for method, path in (
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", f"{base}/rotate_secret"),
        ("GET", f"{base}/deliveries"),
        ("POST", f"{base}/deliveries/{delivery.id}/redeliver"),
    ):
        kwargs = {"json": {"enabled": False}} if method == "PATCH" else {}
        response = await client.request(method, path, headers=other.headers, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 404, (method, path)
    assert (await client.get(base, headers=merchant.headers)).json()["enabled"] is True


async def test_fails_twice_then_succeeds_delivered_exactly_once_more(
    fresh_runtime: Runtime, receiver: Receiver
) -> None:
    runtime = fresh_runtime
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    merchant = await new_merchant(runtime)
    receiver.script = [500, 503, 200]
    async with app_client(runtime) as client:
        created = await _create(client, merchant, receiver.url, ["invoice.paid"])
        event_id = await _emit(runtime, merchant.id)
        await _emit(runtime, merchant.id, "invoice.created")  # not subscribed: never sent
        assert len(receiver.requests) == 1
        [delivery] = await _deliveries(runtime, created["id"])
        assert delivery.status == "pending" and delivery.attempts == 1
        assert delivery.last_status_code == 500
        # Nothing is due yet; the sweep sends nothing.
        await delivery_sweep(runtime.job_context)
        assert len(receiver.requests) == 1
        for _ in range(2):
            [delivery] = await _deliveries(runtime, created["id"])
            assert delivery.next_attempt_at is not None
            clock.set(delivery.next_attempt_at)
            await delivery_sweep(runtime.job_context)
        [delivery] = await _deliveries(runtime, created["id"])
        assert delivery.status == "succeeded" and delivery.attempts == 3
        clock.set(clock.now() + timedelta(days=4))
        await delivery_sweep(runtime.job_context)
        log = await client.get(
            f"/v1/webhook_endpoints/{created['id']}/deliveries", headers=merchant.headers
        )
    assert len(receiver.requests) == 3
    ids = {headers["webhook-id"] for headers, _ in receiver.requests}
    assert ids == {event_id}
    # Verified with the reference library, not with our own signing code.
    webhook = Webhook(created["secret"])
    for headers, body in receiver.requests:
        payload = webhook.verify(body, headers)
        assert payload["id"] == event_id and payload["type"] == "invoice.paid"
    assert [p["id"] for p in receiver.accepted] == [event_id]
    [entry] = log.json()["data"]
    assert entry["status"] == "succeeded" and entry["attempt_count"] == 3
    assert entry["last_status_code"] == 200 and entry["next_attempt_at"] is None


async def test_rotation_signs_with_both_secrets_for_a_day(
    runtime: Runtime, merchant: MerchantAccount, receiver: Receiver
) -> None:
    async with app_client(runtime) as client:
        created = await _create(client, merchant, receiver.url, ["*"])
        rotated = await client.post(
            f"/v1/webhook_endpoints/{created['id']}/rotate_secret", headers=merchant.headers
        )
        await _emit(runtime, merchant.id)
    headers, body = receiver.requests[-1]
    assert len(headers["webhook-signature"].split()) == 2
    Webhook(created["secret"]).verify(body, headers)
    Webhook(rotated.json()["secret"]).verify(body, headers)


async def test_endpoint_disabled_after_three_days_of_failures_then_redelivered(
    fresh_runtime: Runtime, receiver: Receiver
) -> None:
    runtime = fresh_runtime
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    start = clock.now()
    merchant = await new_merchant(runtime)
    receiver.default_status = 500
    async with app_client(runtime) as client:
        created = await _create(client, merchant, receiver.url, ["invoice.paid"])
        event_id = await _emit(runtime, merchant.id)
        for _ in range(30):
            [delivery] = await _deliveries(runtime, created["id"])
            if delivery.status != "pending":
                break
            assert delivery.next_attempt_at is not None
            clock.set(delivery.next_attempt_at)
            await delivery_sweep(runtime.job_context)
        [delivery] = await _deliveries(runtime, created["id"])
        assert delivery.status == "failed"
        assert 8 <= delivery.attempts <= 14, delivery.attempts
        last_attempt = delivery.last_attempt_at
        assert last_attempt is not None and last_attempt - start <= timedelta(days=3)
        endpoint = await client.get(
            f"/v1/webhook_endpoints/{created['id']}", headers=merchant.headers
        )
        assert endpoint.json()["enabled"] is False
        assert endpoint.json()["disabled_reason"] == "failing"
        events = await client.get(
            "/v1/events?type=webhook_endpoint.disabled", headers=merchant.headers
        )
        assert [e["data"]["webhook_endpoint_id"] for e in events.json()["data"]] == [created["id"]]
        sent = len(receiver.requests)

        # The merchant fixes the receiver, re-enables the endpoint and asks for the event again.
        path = f"/v1/webhook_endpoints/{created['id']}/deliveries/{delivery.id}/redeliver"
        refused = await client.post(path, headers=merchant.headers)
        assert refused.status_code == 409
        await client.patch(
            f"/v1/webhook_endpoints/{created['id']}",
            json={"enabled": True},
            headers=merchant.headers,
        )
        receiver.default_status = 200
        again = await client.post(path, headers=merchant.headers)
        assert again.status_code == 200 and again.json()["status"] == "pending"
        assert isinstance(runtime.dispatcher, InlineDispatcher)
        await runtime.dispatcher.drain()
    assert len(receiver.requests) == sent + 1
    assert [p["id"] for p in receiver.accepted] == [event_id]
    [delivery] = await _deliveries(runtime, created["id"])
    assert delivery.status == "succeeded"


async def test_event_payload_is_readable_and_dispatch_is_repeat_safe(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    from billing.events.tasks import dispatch_event

    created = await _create(client, merchant, "http://127.0.0.1:9/unused", ["invoice.paid"])
    event_id = await _emit(runtime, merchant.id)
    assert await dispatch_event(runtime.job_context, event_id) is False
    async with runtime.session_factory() as session:
        event = await session.get(Event, event_id)
    assert event is not None and event.dispatched_at is not None
    assert len(await _deliveries(runtime, created["id"])) == 1
    shown = await client.get(f"/v1/events/{event_id}", headers=merchant.headers)
    assert shown.json()["data"] == {"invoice_id": "inv_1", "amount_paid": 4990}


async def test_sandbox_clock_sees_due_deliveries(
    fresh_runtime: Runtime, receiver: Receiver
) -> None:
    from billing.sandbox.due import due_times

    runtime = fresh_runtime
    merchant = await new_merchant(runtime)
    receiver.default_status = 500
    async with app_client(runtime) as client:
        created = await _create(client, merchant, receiver.url, ["invoice.paid"])
        await _emit(runtime, merchant.id)
    [delivery] = await _deliveries(runtime, created["id"])
    async with runtime.session_factory() as session:
        times = await due_times(session, runtime.clock.now())
    # advance_clock steps to the retry instant, so the retry runs at its own time.
    assert delivery.next_attempt_at in times
