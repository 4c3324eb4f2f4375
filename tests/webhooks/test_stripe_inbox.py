"""POST /webhooks/stripe/{merchant}: verified, stored once, acknowledged after commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import func, select

from billing.db import statements_alone
from billing.models import Event, GatewayEvent, Invoice, PaymentAttempt
from billing.queue import InlineDispatcher
from billing.runtime import Runtime
from tests.conftest import MerchantAccount, new_merchant
from tests.webhooks.helpers import (
    WEBHOOK_SECRET,
    configure_stripe,
    intent_event,
    open_installment,
    signed,
)


async def _drain(runtime: Runtime) -> None:
    assert isinstance(runtime.dispatcher, InlineDispatcher)
    await runtime.dispatcher.drain()


async def _stored_for_one_batch(
    client: httpx.AsyncClient, runtime: Runtime, merchant_id: str, events: Sequence[dict[str, Any]]
) -> list[str]:
    """The events posted and stored; their per-event jobs dropped, so that the test's own
    ``process_due`` applies them as one batch (the sweep's path). Returns the inbox ids."""
    ids = []
    for event in events:
        body, headers = signed(event)
        answer = await client.post(f"/webhooks/stripe/{merchant_id}", content=body, headers=headers)
        ids.append(answer.json()["id"])
    assert isinstance(runtime.dispatcher, InlineDispatcher)
    runtime.dispatcher.pending.clear()
    return ids


async def _inbox_rows(runtime: Runtime, event_id: str) -> list[GatewayEvent]:
    async with runtime.session_factory() as session:
        return list(
            await session.scalars(select(GatewayEvent).where(GatewayEvent.event_id == event_id))
        )


async def test_signed_event_is_stored_then_processed(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    inst = await open_installment(runtime, merchant.id, details={"pix": {"copy_paste": "000201"}})
    event = intent_event("payment_intent.succeeded", key=inst.key, status="succeeded")
    body, headers = signed(event)
    response = await client.post(f"/webhooks/stripe/{merchant.id}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["duplicate"] is False
    [row] = await _inbox_rows(runtime, event["id"])
    assert row.status == "received" and row.merchant_id == merchant.id
    await _drain(runtime)
    [row] = await _inbox_rows(runtime, event["id"])
    assert row.status == "processed", row.last_error
    async with runtime.session_factory() as session:
        attempt = await session.get(PaymentAttempt, inst.attempt_id)
        invoice = await session.get(Invoice, inst.invoice_id)
    assert attempt is not None and attempt.status == "succeeded"
    # A Pix payment confirmed by webhook marks its installment paid.
    assert invoice is not None and invoice.status == "paid" and invoice.amount_paid == 4990


async def test_rejected_signatures_store_nothing(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    url = f"/webhooks/stripe/{merchant.id}"
    event = intent_event("payment_intent.succeeded", key="k", status="succeeded")
    body, headers = signed(event)
    tampered = body.replace(b"4990", b"1")
    cases = {
        "tampered": (tampered, headers),
        "missing": (body, {"Content-Type": "application/json"}),
        "stale": signed(event, timestamp=int(time.time()) - 400),
        "from the future": signed(event, timestamp=int(time.time()) + 400),
        "wrong secret": signed(event, "whsec_someone_else"),
        "garbage header": (body, {"Stripe-Signature": "nonsense"}),
    }
    for name, (payload, hdrs) in cases.items():
        response = await client.post(url, content=payload, headers=hdrs)
        assert response.status_code == 400, name
        assert response.headers["content-type"].startswith("application/problem+json"), name
        assert response.json()["code"] == "invalid_signature", name
    assert await _inbox_rows(runtime, event["id"]) == []


async def test_rotated_secret_two_v1_values_accepted(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    event = intent_event("payment_intent.processing", key="k", status="processing")
    # Stripe signs with the old and the new secret while an endpoint secret is rolled.
    body, headers = signed(event, ["whsec_the_new_one", WEBHOOK_SECRET])
    assert headers["Stripe-Signature"].count("v1=") == 2
    response = await client.post(f"/webhooks/stripe/{merchant.id}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert len(await _inbox_rows(runtime, event["id"])) == 1


async def test_deployment_secret_is_accepted(runtime: Runtime, merchant: MerchantAccount) -> None:
    from dataclasses import replace

    from tests.conftest import app_client

    runtime.settings = replace(runtime.settings, stripe_webhook_secret="whsec_platform")
    event = intent_event("payment_intent.processing", key="k", status="processing")
    async with app_client(runtime) as client:
        body, headers = signed(event, "whsec_platform")
        response = await client.post(
            f"/webhooks/stripe/{merchant.id}", content=body, headers=headers
        )
    assert response.status_code == 200, response.text


async def test_unknown_merchant_is_404(client: httpx.AsyncClient) -> None:
    body, headers = signed(intent_event("payment_intent.succeeded", key="k", status="succeeded"))
    response = await client.post("/webhooks/stripe/mer_nobody", content=body, headers=headers)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_unknown_type_is_stored_and_ignored(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    event = intent_event("balance.available", key="k", status="x")
    body, headers = signed(event)
    assert (
        await client.post(f"/webhooks/stripe/{merchant.id}", content=body, headers=headers)
    ).status_code == 200
    await _drain(runtime)
    [row] = await _inbox_rows(runtime, event["id"])
    assert row.status == "ignored"
    listed = await client.get("/v1/webhook_events?status=ignored", headers=merchant.headers)
    assert event["id"] in [e["event_id"] for e in listed.json()["data"]]


async def test_same_event_five_times_concurrently_changes_state_once(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    created = await client.post(
        "/v1/webhook_endpoints",
        json={"url": "http://127.0.0.1:9/unused", "events": ["invoice.paid"]},
        headers=merchant.headers,
    )
    endpoint_id = created.json()["id"]
    inst = await open_installment(runtime, merchant.id)
    event = intent_event("payment_intent.succeeded", key=inst.key, status="succeeded")
    body, headers = signed(event)
    url = f"/webhooks/stripe/{merchant.id}"
    answers = await asyncio.gather(
        *(client.post(url, content=body, headers=headers) for _ in range(5))
    )
    assert [a.status_code for a in answers] == [200] * 5
    assert sorted(a.json()["duplicate"] for a in answers) == [False, True, True, True, True]
    assert len({a.json()["id"] for a in answers}) == 1
    await _drain(runtime)
    assert len(await _inbox_rows(runtime, event["id"])) == 1
    async with runtime.session_factory() as session:
        paid_events = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.merchant_id == merchant.id, Event.type == "invoice.paid")
        )
    assert paid_events == 1
    deliveries = await client.get(
        f"/v1/webhook_endpoints/{endpoint_id}/deliveries", headers=merchant.headers
    )
    assert [d["event_type"] for d in deliveries.json()["data"]] == ["invoice.paid"]


async def test_out_of_order_events_never_move_backwards(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    inst = await open_installment(runtime, merchant.id)
    intent = "pi_outoforder"
    first = intent_event(
        "payment_intent.succeeded", key=inst.key, status="succeeded", intent_id=intent
    )
    late = intent_event(
        "payment_intent.processing", key=inst.key, status="processing", intent_id=intent
    )
    for event in (first, late):
        body, headers = signed(event)
        url = f"/webhooks/stripe/{merchant.id}"
        assert (await client.post(url, content=body, headers=headers)).status_code == 200
        await _drain(runtime)
    async with runtime.session_factory() as session:
        attempt = await session.get(PaymentAttempt, inst.attempt_id)
    assert attempt is not None and attempt.status == "succeeded"
    [late_row] = await _inbox_rows(runtime, late["id"])
    assert late_row.status == "processed" and "already succeeded" in (late_row.outcome or "")


async def test_handler_error_is_recorded_and_retried(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount, monkeypatch: object
) -> None:
    import pytest

    from billing.webhooks import handlers
    from billing.webhooks.processing import process_due

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    calls: list[str] = []

    async def flaky(ctx: handlers.HandlerContext) -> str:
        calls.append(ctx.event["id"])
        if len(calls) == 1:
            raise RuntimeError("database of a partner was down")
        return "fine now"

    monkeypatch.setitem(handlers.HANDLERS, "charge.refunded", flaky)
    await configure_stripe(runtime, merchant.id)
    event = intent_event("charge.refunded", key="k", status="succeeded")
    body, headers = signed(event)
    await client.post(f"/webhooks/stripe/{merchant.id}", content=body, headers=headers)
    await _drain(runtime)
    [row] = await _inbox_rows(runtime, event["id"])
    assert row.status == "failed" and row.attempts == 1
    assert "RuntimeError: database of a partner was down" in (row.last_error or "")
    assert "Traceback" in (row.last_error or "")
    assert row.next_attempt_at is not None and row.next_attempt_at > runtime.clock.now()
    failed = await client.get("/v1/webhook_events?status=failed", headers=merchant.headers)
    assert [e["id"] for e in failed.json()["data"]] == [row.id]
    other = await new_merchant(runtime, "Outra")
    assert (
        await client.get(f"/v1/webhook_events/{row.id}", headers=other.headers)
    ).status_code == 404
    # Not due yet: nothing happens; once due, the retry succeeds.
    ctx = runtime.job_context
    await process_due(ctx, ids=[row.id])
    assert len(calls) == 1
    runtime.clock.set(row.next_attempt_at)  # type: ignore[attr-defined]
    await process_due(ctx, ids=[row.id])
    [row] = await _inbox_rows(runtime, event["id"])
    assert row.status == "processed" and row.attempts == 2 and row.outcome == "fine now"


async def test_one_failing_event_does_not_hold_back_its_batch(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount, monkeypatch: object
) -> None:
    import pytest

    from billing.webhooks import handlers
    from billing.webhooks.processing import process_due

    assert isinstance(monkeypatch, pytest.MonkeyPatch)

    async def broken(ctx: handlers.HandlerContext) -> str:
        raise ValueError("unexpected shape")

    monkeypatch.setitem(handlers.HANDLERS, "charge.dispute.created", broken)
    await configure_stripe(runtime, merchant.id)
    inst = await open_installment(runtime, merchant.id)
    bad = intent_event("charge.dispute.created", key="k", status="x")
    good = intent_event("payment_intent.succeeded", key=inst.key, status="succeeded")
    ids = await _stored_for_one_batch(client, runtime, merchant.id, (bad, good))
    assert await process_due(runtime.job_context, ids=ids) == 2
    [bad_row] = await _inbox_rows(runtime, bad["id"])
    [good_row] = await _inbox_rows(runtime, good["id"])
    assert bad_row.status == "failed" and "ValueError" in (bad_row.last_error or "")
    assert good_row.status == "processed"
    await _drain(runtime)
    async with runtime.session_factory() as session:
        invoice = await session.get(Invoice, inst.invoice_id)
        paid = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.merchant_id == merchant.id, Event.type == "invoice.paid")
        )
    assert invoice is not None and invoice.status == "paid" and paid == 1


async def test_an_event_waiting_on_the_gateway_does_not_hold_back_its_batch(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    """A failed-payment event makes its handler ask the gateway (slow here); the success
    beside it in the same batch is committed while that call is still out."""
    from billing.webhooks.processing import process_due

    await configure_stripe(runtime, merchant.id)
    runtime.extra["sandbox_latency"] = 0.6  # this merchant's gateway is built after this
    asking = await open_installment(runtime, merchant.id, gateway_customer="cus_sandbox_x")
    paying = await open_installment(runtime, merchant.id)
    events = (
        intent_event(
            "payment_intent.payment_failed", key=asking.key, status="requires_payment_method"
        ),
        intent_event("payment_intent.succeeded", key=paying.key, status="succeeded"),
    )
    ids = await _stored_for_one_batch(client, runtime, merchant.id, events)
    work = asyncio.create_task(process_due(runtime.job_context, ids=ids))
    seen_while_paid: str | None = None
    while not work.done():
        # A reader that takes no write lock (SQLite: no BEGIN IMMEDIATE), like a page.
        async with runtime.engine.connect() as conn:
            await conn.execution_options(**statements_alone(runtime.engine.dialect.name))
            status = await conn.scalar(
                select(Invoice.status).where(Invoice.id == paying.invoice_id)
            )
            asking_status = await conn.scalar(
                select(GatewayEvent.status).where(GatewayEvent.id == ids[0])
            )
        if status == "paid":
            seen_while_paid = asking_status
            break
        await asyncio.sleep(0.02)
    assert await work == 2
    assert seen_while_paid == "received"  # paid while the other still waited on the gateway
    [asked] = await _inbox_rows(runtime, events[0]["id"])
    assert asked.status == "processed"


async def test_a_batch_applying_a_success_before_an_older_failure_ends_paid(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    """One batch holds a failure then a success of the same payment. The failure asks the
    gateway, so it is applied after the success, in its own transaction: the attempt stays
    succeeded and the installment paid (invariants 4 and 5: any order, no move backwards)."""
    from billing.webhooks.processing import process_due

    await configure_stripe(runtime, merchant.id)
    inst = await open_installment(runtime, merchant.id, gateway_customer="cus_sandbox_y")
    intent = "pi_failedthenpaid"
    failed = intent_event(
        "payment_intent.payment_failed", key=inst.key, status="requires_payment_method",
        intent_id=intent, created=1_700_000_000,
    )  # fmt: skip
    paid = intent_event(
        "payment_intent.succeeded", key=inst.key, status="succeeded", intent_id=intent,
        created=1_700_000_060,
    )  # fmt: skip
    ids = await _stored_for_one_batch(client, runtime, merchant.id, (failed, paid))
    assert await process_due(runtime.job_context, ids=ids) == 2
    async with runtime.session_factory() as session:
        attempt = await session.get(PaymentAttempt, inst.attempt_id)
        invoice = await session.get(Invoice, inst.invoice_id)
    assert attempt is not None and attempt.status == "succeeded"
    assert invoice is not None and invoice.status == "paid"
    [failed_row] = await _inbox_rows(runtime, failed["id"])
    assert failed_row.status == "processed" and "already succeeded" in (failed_row.outcome or "")
