"""Each Stripe event type's handler, through the inbox, repeat-safe."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from billing.db import unit_of_work
from billing.kit.ids import new_id
from billing.models import Event, GatewayEvent, PaymentMethod
from billing.queue import InlineDispatcher
from billing.runtime import Runtime
from tests.conftest import MerchantAccount
from tests.webhooks.helpers import configure_stripe, open_installment, signed


def _event(type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": type,
        "created": 0,
        "data": {"object": obj},
    }


async def _deliver(
    client: httpx.AsyncClient, runtime: Runtime, merchant_id: str, event: dict[str, Any]
) -> GatewayEvent:
    body, headers = signed(event)
    for _ in range(2):  # Stripe redelivers: the second changes nothing
        answer = await client.post(f"/webhooks/stripe/{merchant_id}", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
    assert isinstance(runtime.dispatcher, InlineDispatcher)
    await runtime.dispatcher.drain()
    async with runtime.session_factory() as session:
        row = await session.scalar(select(GatewayEvent).where(GatewayEvent.event_id == event["id"]))
    assert row is not None
    return row


async def _event_types(runtime: Runtime, merchant_id: str) -> list[str]:
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(Event.type).where(Event.merchant_id == merchant_id).order_by(Event.id)
        )
        return list(rows)


async def test_refund_dispute_and_payment_method_events(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    customer_ref = f"cus_{uuid.uuid4().hex[:10]}"
    inst = await open_installment(runtime, merchant.id, gateway_customer=customer_ref)
    pm_id, pm_ref = new_id("pm"), f"pm_{uuid.uuid4().hex[:10]}"
    async with unit_of_work(runtime.session_factory) as session:
        session.add(
            PaymentMethod(
                id=pm_id,
                merchant_id=merchant.id,
                customer_id=inst.customer_id,
                gateway_ref=pm_ref,
                type="card",
                brand="visa",
                last4="4242",
                exp_month=1,
                exp_year=2026,
                is_default=True,
                disabled_reason="expired_card",
                created_at=runtime.clock.now(),
            )
        )
    intent = {"id": "pi_x", "metadata": {"billing_attempt_key": inst.key}}
    charge = {"id": "ch_1", "payment_intent": intent, "amount_refunded": 1000, "currency": "brl"}
    row = await _deliver(client, runtime, merchant.id, _event("charge.refunded", charge))
    assert row.status == "processed" and inst.attempt_id in (row.outcome or "")
    dispute = {"id": "dp_1", "charge": charge, "amount": 4990, "reason": "fraudulent"}
    row = await _deliver(client, runtime, merchant.id, _event("charge.dispute.created", dispute))
    assert row.status == "processed"

    updated = {
        "id": pm_ref,
        "card": {"brand": "visa", "last4": "1881", "exp_month": 12, "exp_year": 2031},
    }
    event = _event("payment_method.automatically_updated", updated)
    assert (await _deliver(client, runtime, merchant.id, event)).status == "processed"
    async with runtime.session_factory() as session:
        method = await session.get(PaymentMethod, pm_id)
    assert method is not None and (method.last4, method.exp_year) == ("1881", 2031)
    assert method.disabled_reason is None

    expiring = {
        "id": "card_1",
        "customer": customer_ref,
        "last4": "1881",
        "exp_month": 12,
        "exp_year": 2031,
    }
    event = _event("customer.source.expiring", expiring)
    assert (await _deliver(client, runtime, merchant.id, event)).status == "processed"
    new_ref = f"pm_{uuid.uuid4().hex[:10]}"
    setup = {"id": "seti_1", "customer": customer_ref, "payment_method": new_ref}
    event = _event("setup_intent.succeeded", setup)
    assert (await _deliver(client, runtime, merchant.id, event)).status == "processed"
    known = _event("payment_method.attached", {"id": pm_ref, "customer": customer_ref})
    row = await _deliver(client, runtime, merchant.id, known)
    assert row.outcome == "payment method already known"

    event = _event("payment_method.detached", {"id": pm_ref, "customer": None})
    assert (await _deliver(client, runtime, merchant.id, event)).status == "processed"
    async with runtime.session_factory() as session:
        method = await session.get(PaymentMethod, pm_id, populate_existing=True)
    assert method is not None and method.detached_at is not None and not method.is_default
    again = _event("payment_method.detached", {"id": pm_ref})
    assert (await _deliver(client, runtime, merchant.id, again)).outcome == "already detached"

    assert await _event_types(runtime, merchant.id) == [
        "payment.refunded",
        "payment.disputed",
        "customer.payment_method_expiring",
        "customer.payment_method_added",
        "customer.payment_method_detached",
    ]


async def test_events_of_someone_else_are_processed_without_effect(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    intent = {"id": "pi_unknown", "status": "succeeded", "metadata": {}}
    row = await _deliver(client, runtime, merchant.id, _event("payment_intent.succeeded", intent))
    assert row.status == "processed" and row.outcome == "no payment attempt of ours"
    assert await _event_types(runtime, merchant.id) == []
