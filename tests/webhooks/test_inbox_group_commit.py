"""Concurrent deliveries share inbox transactions; each is answered only once stored."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from billing.models import GatewayEvent, Invoice
from billing.queue import InlineDispatcher
from billing.runtime import Runtime
from tests.conftest import MerchantAccount
from tests.webhooks.helpers import configure_stripe, intent_event, open_installment, signed


async def test_a_burst_of_distinct_events_is_stored_and_applied_once_each(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    insts = [await open_installment(runtime, merchant.id) for _ in range(12)]
    events = [
        intent_event("payment_intent.succeeded", key=i.key, status="succeeded") for i in insts
    ]
    # Every event twice, all at once: Stripe retries while the first delivery is in flight.
    posts = [signed(e) for e in events] * 2
    url = f"/webhooks/stripe/{merchant.id}"
    answers = await asyncio.gather(*(client.post(url, content=b, headers=h) for b, h in posts))
    assert [a.status_code for a in answers] == [200] * len(posts)
    bodies = [a.json() for a in answers]
    assert sum(not b["duplicate"] for b in bodies) == len(events)
    # Both deliveries of an event name the same stored row.
    for first, second in zip(bodies[: len(events)], bodies[len(events) :], strict=True):
        assert first["id"] == second["id"]

    async with runtime.session_factory() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(GatewayEvent)
            .where(GatewayEvent.merchant_id == merchant.id)
        )
    assert stored == len(events)

    assert isinstance(runtime.dispatcher, InlineDispatcher)
    await runtime.dispatcher.drain()
    async with runtime.session_factory() as session:
        statuses = list(
            await session.scalars(
                select(GatewayEvent.status).where(GatewayEvent.merchant_id == merchant.id)
            )
        )
        paid = await session.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(Invoice.merchant_id == merchant.id, Invoice.status == "paid")
        )
    assert statuses == ["processed"] * len(events)
    assert paid == len(insts)
