"""Invariant 3: at most one successful charge per invoice, whatever crashes or races."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from billing.db import unit_of_work
from billing.gateways import ChargeRequest, ChargeResult, GatewayUnavailable
from billing.kit.clock import FixedClock
from billing.models import Invoice, PaymentAttempt
from billing.payments import service
from billing.payments.gateway_registry import sandbox_gateway
from billing.payments.service import charge_invoice
from billing.payments.sweep import charge_due
from billing.payments.tasks import recover_stuck_attempts
from billing.runtime import Runtime
from tests.conftest import MerchantAccount, new_merchant
from tests.payments.helpers import (
    attach,
    invoice_row,
    sandbox_captures_for,
    sandbox_charges_for,
    seed_invoice,
)


async def _attempts(runtime: Runtime, invoice_id: str) -> list[PaymentAttempt]:
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(PaymentAttempt)
            .where(PaymentAttempt.invoice_id == invoice_id)
            .order_by(PaymentAttempt.attempt_number)
        )
        return list(rows)


async def _ready(
    runtime: Runtime, client: httpx.AsyncClient, token: str = "pm_card_visa"
) -> tuple[MerchantAccount, Any]:
    merchant = await new_merchant(runtime)
    seeded = await seed_invoice(runtime, merchant)
    await attach(client, merchant, seeded.customer_id, token)
    return merchant, seeded


async def test_crash_after_the_gateway_call_is_recovered_without_charging_again(
    own_runtime: Runtime,
    own_client: httpx.AsyncClient,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merchant, seeded = await _ready(own_runtime, own_client)
    ctx = own_runtime.job_context

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("process killed between the gateway call and the commit")

    monkeypatch.setattr(service, "record_result", crash)
    with pytest.raises(RuntimeError):
        await charge_invoice(ctx, merchant_id=merchant.id, invoice_id=seeded.invoice_id)
    monkeypatch.undo()

    [attempt] = await _attempts(own_runtime, seeded.invoice_id)
    assert attempt.status == "processing" and attempt.gateway_ref is None
    assert attempt.idempotency_key == f"billing:charge:{seeded.invoice_id}:1"
    assert await sandbox_charges_for(own_runtime, seeded.invoice_id) == 1
    # Another charge while it is unresolved is refused, not sent.
    assert await charge_invoice(ctx, merchant_id=merchant.id, invoice_id=seeded.invoice_id) is None

    assert await recover_stuck_attempts(ctx) == 0  # too recent to be called stuck
    clock.set(clock.now() + timedelta(minutes=3))
    assert await recover_stuck_attempts(ctx) == 1
    assert await recover_stuck_attempts(ctx) == 0

    [attempt] = await _attempts(own_runtime, seeded.invoice_id)
    assert attempt.status == "succeeded" and attempt.gateway_ref
    invoice = await invoice_row(own_runtime, seeded.invoice_id)
    assert invoice.status == "paid" and invoice.amount_paid == 4990
    assert await sandbox_charges_for(own_runtime, seeded.invoice_id) == 1
    assert await sandbox_captures_for(own_runtime, seeded.invoice_id) == 1


async def test_unknown_outcome_is_asked_not_repeated(
    own_runtime: Runtime,
    own_client: httpx.AsyncClient,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gateway charged but the answer was lost (timeout): recovery finds the charge."""
    merchant, seeded = await _ready(own_runtime, own_client)
    ctx = own_runtime.job_context
    gateway = sandbox_gateway(ctx)
    real_charge = gateway.charge

    async def charge_then_timeout(*, request: ChargeRequest) -> ChargeResult:
        await real_charge(request=request)
        raise GatewayUnavailable("read timeout")

    monkeypatch.setattr(gateway, "charge", charge_then_timeout)
    attempt = await charge_invoice(ctx, merchant_id=merchant.id, invoice_id=seeded.invoice_id)
    monkeypatch.undo()
    assert attempt is not None and attempt.status == "processing"
    clock.set(clock.now() + timedelta(minutes=3))
    assert await recover_stuck_attempts(ctx) == 1
    assert (await invoice_row(own_runtime, seeded.invoice_id)).status == "paid"
    assert await sandbox_captures_for(own_runtime, seeded.invoice_id) == 1


async def test_a_charge_that_never_reached_the_gateway_is_charged_again_later(
    own_runtime: Runtime,
    own_client: httpx.AsyncClient,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merchant, seeded = await _ready(own_runtime, own_client)
    ctx = own_runtime.job_context
    gateway = sandbox_gateway(ctx)

    async def connection_refused(*, request: ChargeRequest) -> ChargeResult:
        raise GatewayUnavailable("connection refused")

    monkeypatch.setattr(gateway, "charge", connection_refused)
    await charge_invoice(ctx, merchant_id=merchant.id, invoice_id=seeded.invoice_id)
    monkeypatch.undo()
    clock.set(clock.now() + timedelta(minutes=3))
    assert await recover_stuck_attempts(ctx) == 1
    (first,) = await _attempts(own_runtime, seeded.invoice_id)
    assert (first.status, first.failure_code) == ("failed", "not_submitted")
    invoice = await invoice_row(own_runtime, seeded.invoice_id)
    assert invoice.attempt_count == 0 and invoice.next_payment_attempt is not None

    counts = await charge_due(ctx, concurrency=4)
    assert counts == {"succeeded": 1}
    assert (await invoice_row(own_runtime, seeded.invoice_id)).status == "paid"
    assert await sandbox_captures_for(own_runtime, seeded.invoice_id) == 1


async def test_twenty_concurrent_pay_requests_capture_once(
    own_runtime: Runtime, own_client: httpx.AsyncClient
) -> None:
    own_runtime.extra["sandbox_latency"] = 0.02  # widen the race window
    merchant, seeded = await _ready(own_runtime, own_client)
    url = f"/v1/invoices/{seeded.invoice_id}/pay"
    responses = await asyncio.gather(
        *(own_client.post(url, headers=merchant.headers) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, [r.text for r in responses]
    assert set(statuses) == {200, 409}
    assert {r.json()["code"] for r in responses if r.status_code == 409} <= {
        "payment_in_progress",
        "invoice_paid",
    }
    attempts = await _attempts(own_runtime, seeded.invoice_id)
    assert [a.status for a in attempts] == ["succeeded"]
    invoice = await invoice_row(own_runtime, seeded.invoice_id)
    assert invoice.status == "paid" and invoice.amount_paid == 4990
    assert await sandbox_captures_for(own_runtime, seeded.invoice_id) == 1


async def test_a_retry_and_a_portal_payment_racing_capture_at_most_the_amount_due(
    own_runtime: Runtime, own_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    own_runtime.extra["sandbox_latency"] = 0.02
    merchant, seeded = await _ready(own_runtime, own_client)
    ctx = own_runtime.job_context
    async with unit_of_work(own_runtime.session_factory) as session:
        # A failed first attempt happened; its retry is due now.
        await session.execute(
            update(Invoice)
            .where(Invoice.id == seeded.invoice_id)
            .values(attempt_count=1, next_payment_attempt=clock.now() - timedelta(minutes=1))
        )
    url = f"/v1/invoices/{seeded.invoice_id}/pay"
    results = await asyncio.gather(
        charge_due(ctx, concurrency=4),
        charge_invoice(
            ctx, merchant_id=merchant.id, invoice_id=seeded.invoice_id, initiated_by="payer"
        ),
        own_client.post(url, headers=merchant.headers),
        charge_due(ctx, concurrency=4),
    )
    assert results is not None
    invoice = await invoice_row(own_runtime, seeded.invoice_id)
    assert invoice.status == "paid" and invoice.amount_paid == 4990
    async with own_runtime.session_factory() as session:
        captured = await session.scalar(
            select(func.coalesce(func.sum(PaymentAttempt.amount), 0)).where(
                PaymentAttempt.invoice_id == seeded.invoice_id,
                PaymentAttempt.status == "succeeded",
            )
        )
    assert captured == 4990
    assert await sandbox_captures_for(own_runtime, seeded.invoice_id) == 1
