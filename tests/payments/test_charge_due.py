"""The charging sweep: what it selects, what it leaves alone, retries on schedule."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from billing.kit.clock import FixedClock
from billing.models import PaymentMethod
from billing.payments.sweep import charge_due
from billing.runtime import Runtime
from tests.conftest import new_merchant
from tests.payments.helpers import (
    attach,
    invoice_row,
    payments_of,
    sandbox_captures_for,
    seed_invoice,
    subscription_status,
)


async def test_sweep_charges_due_invoices_once_each(
    own_runtime: Runtime, own_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    merchant = await new_merchant(own_runtime)
    tokens = [
        "pm_card_visa",
        "pm_card_insufficientFundsTimes1",
        "pm_card_chargeDeclinedStolenCard",
        "pix",
    ]
    seeded = {}
    for token in tokens:
        seeded[token] = await seed_invoice(own_runtime, merchant)
        await attach(own_client, merchant, seeded[token].customer_id, token)
    no_method = await seed_invoice(own_runtime, merchant)

    counts = await charge_due(own_runtime.job_context, concurrency=3, batch_size=2)
    assert counts == {
        "succeeded": 1,
        "failed": 2,
        "processing": 1,
        "skipped:no_payment_method": 1,
    }
    # Nothing is due any more right now: a second sweep (or a second worker) does nothing.
    assert await charge_due(own_runtime.job_context, concurrency=3) == {}

    visa = await invoice_row(own_runtime, seeded["pm_card_visa"].invoice_id)
    assert visa.status == "paid"
    soft = await invoice_row(own_runtime, seeded["pm_card_insufficientFundsTimes1"].invoice_id)
    assert soft.status == "open" and soft.attempt_count == 1
    assert soft.next_payment_attempt is not None and soft.next_payment_attempt > clock.now()
    hard = await invoice_row(own_runtime, seeded["pm_card_chargeDeclinedStolenCard"].invoice_id)
    assert hard.next_payment_attempt is None
    async with own_runtime.session_factory() as session:
        disabled = await session.scalar(
            select(PaymentMethod.disabled_reason).where(
                PaymentMethod.customer_id == seeded["pm_card_chargeDeclinedStolenCard"].customer_id
            )
        )
    assert disabled == "stolen_card"
    assert (await invoice_row(own_runtime, no_method.invoice_id)).next_payment_attempt is not None

    # At the retry time the soft decline is charged again, as a retry, and succeeds.
    clock.set(soft.next_payment_attempt + timedelta(seconds=1))
    counts = await charge_due(own_runtime.job_context, concurrency=3)
    # (the invoice without a method is looked at again a day later: still nothing to use)
    assert counts == {"succeeded": 1, "skipped:no_payment_method": 1}
    soft_id = seeded["pm_card_insufficientFundsTimes1"]
    assert (await invoice_row(own_runtime, soft_id.invoice_id)).status == "paid"
    assert await subscription_status(own_runtime, soft_id.subscription_id) == "active"
    payments = await payments_of(own_client, merchant, soft_id.invoice_id)
    assert [(p["status"], p["initiated_by"]) for p in payments] == [
        ("failed", "automatic"),
        ("succeeded", "retry"),
    ]
    assert await sandbox_captures_for(own_runtime, soft_id.invoice_id) == 1
