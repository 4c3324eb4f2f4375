"""localstripe's own signed webhooks, delivered over HTTP to the app running under uvicorn."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import stripe
from sqlalchemy import select

from billing.app import create_app
from billing.db import unit_of_work
from billing.gateways import ChargeRequest
from billing.gateways.stripe_gateway import StripeGateway
from billing.kit.clock import SystemClock
from billing.models import Customer, GatewayEvent, Invoice, PaymentAttempt
from billing.queue import InlineDispatcher
from billing.runtime import Runtime
from tests.conftest import Database, make_runtime, new_merchant
from tests.webhooks.conftest import serve_app
from tests.webhooks.helpers import configure_stripe, intent_event, open_installment, signed

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")


@dataclass
class Live:
    runtime: Runtime
    url: str
    merchant_id: str
    secret: str
    gateway: StripeGateway
    sdk: stripe.StripeClient


@pytest.fixture
async def live(database: Database, localstripe_url: str) -> AsyncIterator[Live]:
    runtime = await make_runtime(database, SystemClock(), stripe_api_base=localstripe_url)
    merchant = await new_merchant(runtime, "Loja Stripe")
    api_key = f"sk_test_{uuid.uuid4().hex}"
    secret = f"whsec_{uuid.uuid4().hex}"
    await configure_stripe(
        runtime, merchant.id, webhook_secret=secret, secret_key=api_key, provider="stripe"
    )
    gateway = StripeGateway(api_key, localstripe_url, rate_per_second=1000)
    http = stripe.HTTPXClient()
    sdk = stripe.StripeClient(api_key, base_addresses={"api": localstripe_url}, http_client=http)
    async with serve_app(create_app(runtime=runtime)) as url:
        # localstripe's webhook registration: every matching event, signed with `secret`.
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"{localstripe_url}/_config/webhooks/{merchant.id}",
                json={
                    "url": f"{url}/webhooks/stripe/{merchant.id}",
                    "secret": secret,
                    "events": ["payment_intent.succeeded", "payment_intent.payment_failed"],
                },
            )
            assert answer.status_code == 200, answer.text
        yield Live(runtime, url, merchant.id, secret, gateway, sdk)
    await gateway.aclose()
    await http.close_async()
    await runtime.close()


async def _installment_at_stripe(live: Live) -> tuple[str, str, str]:
    """(attempt id, invoice id, PaymentIntent id) of a card charge made through localstripe."""
    cus_id = f"cus_local_{uuid.uuid4().hex[:8]}"
    gateway_customer = await live.gateway.ensure_customer(
        merchant_id=live.merchant_id, customer_id=cus_id, email=f"{cus_id}@x.test", name="Ana"
    )
    inst = await open_installment(live.runtime, live.merchant_id, gateway_customer=gateway_customer)
    pm = await live.sdk.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    result = await live.gateway.charge(
        request=ChargeRequest(
            idempotency_key=inst.key,
            amount=inst.amount,
            currency="BRL",
            gateway_customer=gateway_customer,
            payment_method=str(pm.id),
        )
    )
    assert result.status == "succeeded" and result.gateway_ref
    return inst.attempt_id, inst.invoice_id, result.gateway_ref


async def _inbox_for(runtime: Runtime, merchant_id: str, type: str) -> list[GatewayEvent]:
    async with runtime.session_factory() as session:
        return list(
            await session.scalars(
                select(GatewayEvent).where(
                    GatewayEvent.merchant_id == merchant_id, GatewayEvent.type == type
                )
            )
        )


async def test_localstripe_signed_event_is_stored_and_processed(live: Live) -> None:
    attempt_id, invoice_id, intent_id = await _installment_at_stripe(live)
    # Our attempt is still `processing` on our side: the webhook is what settles it.
    rows: list[GatewayEvent] = []
    for _ in range(100):
        rows = [
            r
            for r in await _inbox_for(live.runtime, live.merchant_id, "payment_intent.succeeded")
            if r.payload["data"]["object"]["id"] == intent_id
        ]
        if rows:
            break
        await asyncio.sleep(0.1)
    assert len(rows) == 1, "localstripe's webhook did not arrive"
    assert isinstance(live.runtime.dispatcher, InlineDispatcher)
    await live.runtime.dispatcher.drain()
    [row] = [
        r
        for r in await _inbox_for(live.runtime, live.merchant_id, "payment_intent.succeeded")
        if r.id == rows[0].id
    ]
    assert row.status == "processed", row.last_error
    async with live.runtime.session_factory() as session:
        attempt = await session.get(PaymentAttempt, attempt_id)
        invoice = await session.get(Invoice, invoice_id)
    assert attempt is not None and attempt.status == "succeeded"
    assert attempt.gateway_ref == intent_id
    assert invoice is not None and invoice.status == "paid"


async def test_out_of_order_final_state_is_the_gateways(live: Live) -> None:
    attempt_id, _, intent_id = await _installment_at_stripe(live)
    async with live.runtime.session_factory() as session:
        attempt = await session.get(PaymentAttempt, attempt_id)
    assert attempt is not None
    key = attempt.idempotency_key
    # An old "failed" snapshot first, then "processing": neither is the truth any more.
    failed = intent_event(
        "payment_intent.payment_failed",
        key=key,
        status="requires_payment_method",
        intent_id=intent_id,
        extra={"last_payment_error": {"code": "card_declined", "decline_code": "generic_decline"}},
    )
    processing = intent_event(
        "payment_intent.processing", key=key, status="processing", intent_id=intent_id
    )
    async with httpx.AsyncClient(base_url=live.url) as client:
        for event in (failed, processing):
            body, headers = signed(event, live.secret)
            answer = await client.post(
                f"/webhooks/stripe/{live.merchant_id}", content=body, headers=headers
            )
            assert answer.status_code == 200, answer.text
    assert isinstance(live.runtime.dispatcher, InlineDispatcher)
    await live.runtime.dispatcher.drain()
    intent = await live.sdk.v1.payment_intents.retrieve_async(intent_id)
    async with live.runtime.session_factory() as session:
        attempt = await session.get(PaymentAttempt, attempt_id, populate_existing=True)
        assert attempt is not None
        customer = await session.get(Customer, attempt.customer_id)
    assert customer is not None
    assert intent.status == "succeeded"
    assert attempt is not None and attempt.status == intent.status


async def test_database_down_is_5xx_then_redelivery_is_processed(
    database: Database, tmp_path: object
) -> None:
    from billing.kit.clock import SystemClock as Clock

    healthy = await make_runtime(database, Clock())
    merchant = await new_merchant(healthy, "Loja Resiliente")
    await configure_stripe(healthy, merchant.id)
    inst = await open_installment(healthy, merchant.id)
    event = intent_event("payment_intent.succeeded", key=inst.key, status="succeeded")
    body, headers = signed(event)
    # The same deployment with its database unreachable (nothing listens on port 1).
    down_url = "postgresql+asyncpg://postgres@127.0.0.1:1/billing"
    broken = await make_runtime(Database("postgres", down_url), Clock())
    try:
        async with serve_app(create_app(runtime=broken)) as url, httpx.AsyncClient() as client:
            answer = await client.post(
                f"{url}/webhooks/stripe/{merchant.id}", content=body, headers=headers
            )
        assert answer.status_code >= 500
        assert answer.headers["content-type"].startswith("application/problem+json")
    finally:
        await broken.close()
    try:
        # Stripe redelivers the same bytes; the healthy app stores and processes them.
        async with serve_app(create_app(runtime=healthy)) as url, httpx.AsyncClient() as client:
            answer = await client.post(
                f"{url}/webhooks/stripe/{merchant.id}", content=body, headers=headers
            )
        assert answer.status_code == 200
        assert isinstance(healthy.dispatcher, InlineDispatcher)
        await healthy.dispatcher.drain()
        async with unit_of_work(healthy.session_factory) as session:
            attempt = await session.get(PaymentAttempt, inst.attempt_id)
            assert attempt is not None and attempt.status == "succeeded"
    finally:
        await healthy.close()
