"""Pending attempts are re-read from the gateway 5 min, 1 h and 1 d after they were made."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from sqlalchemy import update

from billing.db import unit_of_work
from billing.gateways import ChargeRequest
from billing.gateways.stripe_gateway import StripeGateway
from billing.kit.clock import FixedClock
from billing.models import Invoice, PaymentAttempt, PaymentReconciliation
from billing.runtime import Runtime
from billing.webhooks.reconcile import next_check, reconcile_due
from tests.conftest import Database, make_runtime, new_merchant
from tests.fixtures_stripe import card_at_stripe, stripe_runtime
from tests.webhooks.helpers import configure_stripe, open_installment

__all__ = ["stripe_runtime"]  # on a database of its own: reconcile_due sweeps every merchant

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")


def test_schedule() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert [next_check(t0, n) - t0 for n in range(4)] == [  # type: ignore[operator]
        timedelta(minutes=5),
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(days=2),
    ]
    assert next_check(t0, 30) is None


async def test_lost_webhook_is_recovered_by_reading_the_gateway(
    stripe_runtime: Runtime, localstripe_url: str
) -> None:
    runtime = stripe_runtime
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    merchant = await new_merchant(runtime)
    api_key = f"sk_test_{uuid.uuid4().hex}"
    await configure_stripe(runtime, merchant.id, secret_key=api_key, provider="stripe")
    gateway = StripeGateway(api_key, localstripe_url, rate_per_second=1000)
    http = stripe.HTTPXClient()
    sdk = stripe.StripeClient(api_key, base_addresses={"api": localstripe_url}, http_client=http)
    try:
        customer = await gateway.ensure_customer(
            merchant_id=merchant.id, customer_id="c1", email="c1@x.test", name="Ana"
        )
        inst = await open_installment(runtime, merchant.id, gateway_customer=customer)
        pm_id = await card_at_stripe(sdk)
        result = await gateway.charge(
            request=ChargeRequest(
                idempotency_key=inst.key,
                amount=inst.amount,
                currency="BRL",
                gateway_customer=customer,
                payment_method=pm_id,
            )
        )
    finally:
        await gateway.aclose()
        await http.close_async()
    # We learnt the reference but recorded it as still pending, and the webhook got lost.
    async with unit_of_work(runtime.session_factory) as session:
        await session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == inst.attempt_id)
            .values(gateway_ref=result.gateway_ref)
        )
    start = clock.now()
    clock.set(start + timedelta(minutes=4))
    assert await reconcile_due(runtime.job_context) == 0
    clock.set(start + timedelta(minutes=5))
    assert await reconcile_due(runtime.job_context) == 1
    async with runtime.session_factory() as session:
        attempt = await session.get(PaymentAttempt, inst.attempt_id)
        invoice = await session.get(Invoice, inst.invoice_id)
        mark = await session.get(PaymentReconciliation, inst.attempt_id)
    assert attempt is not None and attempt.status == "succeeded"
    assert invoice is not None and invoice.status == "paid"
    assert mark is not None and mark.checks == 1 and mark.next_check_at is None
    clock.set(start + timedelta(days=3))
    assert await reconcile_due(runtime.job_context) == 0


async def test_still_pending_is_checked_again_on_schedule(
    fresh_database: Database, clock: FixedClock
) -> None:
    runtime = await make_runtime(fresh_database, clock)
    try:
        merchant = await new_merchant(runtime)  # sandbox gateway: it has never seen this key
        inst = await open_installment(runtime, merchant.id, gateway_customer="cus_sandbox")
        async with unit_of_work(runtime.session_factory) as session:
            await session.execute(
                update(PaymentAttempt)
                .where(PaymentAttempt.id == inst.attempt_id)
                .values(gateway_ref="py_boleto_pending")
            )
        start = clock.now()
        seen = []
        for offset in (
            timedelta(minutes=5),
            timedelta(minutes=30),
            timedelta(hours=1),
            timedelta(days=1),
        ):
            clock.set(start + offset)
            seen.append(await reconcile_due(runtime.job_context))
        assert seen == [1, 0, 1, 1]
        async with runtime.session_factory() as session:
            mark = await session.get(PaymentReconciliation, inst.attempt_id)
            attempt = await session.get(PaymentAttempt, inst.attempt_id)
        assert mark is not None and mark.checks == 3
        assert mark.next_check_at == start + timedelta(days=2)
        assert attempt is not None and attempt.status == "processing"
    finally:
        await runtime.close()
