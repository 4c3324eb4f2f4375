"""The inbox sweep applies a batch of payment_intent.succeeded events together.

Plain successes take the set-based path, the others ``record_outcomes`` or the handler; a
payer and a merchant must not be able to tell which path settled their installment.
"""

from __future__ import annotations

import httpx
from sqlalchemy import func, select, update

from billing.db import unit_of_work
from billing.models import Event, GatewayEvent, Invoice, InvoiceLine, PaymentAttempt
from billing.queue import InlineDispatcher
from billing.runtime import Runtime
from billing.webhooks.processing import process_due
from tests.conftest import MerchantAccount
from tests.webhooks.helpers import configure_stripe, intent_event, open_installment, signed


async def _post(client: httpx.AsyncClient, merchant_id: str, event: dict[str, object]) -> str:
    body, headers = signed(event)
    answer = await client.post(f"/webhooks/stripe/{merchant_id}", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


async def test_batch_of_successes_settles_each_installment_once(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    plain_a = await open_installment(runtime, merchant.id)
    plain_b = await open_installment(runtime, merchant.id)
    no_ref = await open_installment(runtime, merchant.id)
    with_fees = await open_installment(
        runtime, merchant.id, details={"late_fee": 100, "interest": 20}
    )
    already = await open_installment(runtime, merchant.id)
    async with unit_of_work(runtime.session_factory) as session:
        for inst in (plain_a, plain_b, with_fees, already):
            await session.execute(
                update(PaymentAttempt)
                .where(PaymentAttempt.id == inst.attempt_id)
                .values(gateway_ref=f"pi_{inst.attempt_id}")
            )
        await session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == already.attempt_id)
            .values(status="succeeded", completed_at=runtime.clock.now())
        )

    def success(inst: object) -> dict[str, object]:
        key = inst.key  # type: ignore[attr-defined]
        return intent_event("payment_intent.succeeded", key=key, status="succeeded")

    ids = [
        await _post(client, merchant.id, success(inst))
        for inst in (plain_a, plain_b, no_ref, with_fees, already)
    ]
    # Stripe sends a second, distinct event for an intent it already reported.
    ids.append(await _post(client, merchant.id, success(plain_a)))
    assert isinstance(runtime.dispatcher, InlineDispatcher)
    runtime.dispatcher.pending.clear()  # the sweep's batch path, not the per-commit jobs

    assert await process_due(runtime.job_context, limit=500) == len(ids)

    async with runtime.session_factory() as session:
        rows = {r.id: r for r in await session.scalars(select(GatewayEvent))}
        invoices = {
            i.id: i
            for i in await session.scalars(
                select(Invoice).where(Invoice.merchant_id == merchant.id)
            )
        }
        attempts = {
            a.id: a
            for a in await session.scalars(
                select(PaymentAttempt).where(PaymentAttempt.merchant_id == merchant.id)
            )
        }
        paid_events = list(
            await session.scalars(
                select(Event).where(Event.merchant_id == merchant.id, Event.type == "invoice.paid")
            )
        )
        fee_lines = await session.scalar(
            select(func.count())
            .select_from(InvoiceLine)
            .where(InvoiceLine.invoice_id == with_fees.invoice_id)
        )
    assert all(rows[i].status == "processed" for i in ids), [rows[i].outcome for i in ids]
    assert "already succeeded" in (rows[ids[-1]].outcome or "")
    assert "already succeeded" in (rows[ids[4]].outcome or "")

    # One invoice.paid per settled installment, none for the one settled before.
    settled = [plain_a, plain_b, no_ref, with_fees]
    assert sorted(e.data["invoice_id"] for e in paid_events) == sorted(
        i.invoice_id for i in settled
    )
    for event in paid_events:
        assert event.data["amount_paid"] == 4990
        assert event.data["payment_id"] in {i.attempt_id for i in settled}
    assert already.invoice_id not in {e.data["invoice_id"] for e in paid_events}

    # The set-based path (plain_a) and record_outcomes (no_ref) leave the same state.
    fast, slow = invoices[plain_a.invoice_id], invoices[no_ref.invoice_id]
    for inv in (fast, slow):
        assert inv.status == "paid" and inv.amount_paid == 4990 and inv.total == 4990
        assert inv.late_fee == 0 and inv.interest == 0 and inv.next_payment_attempt is None
    assert fast.paid_at == slow.paid_at == runtime.clock.now()
    fast_pay, slow_pay = attempts[plain_a.attempt_id], attempts[no_ref.attempt_id]
    for pay in (fast_pay, slow_pay):
        assert pay.status == "succeeded" and pay.completed_at == runtime.clock.now()
        assert pay.failure_code is None and pay.decline_type is None
    assert invoices[plain_b.invoice_id].status == "paid"

    # Late charges fixed on the attempt are added to the installment with their lines.
    fees = invoices[with_fees.invoice_id]
    assert fees.status == "paid" and fees.late_fee == 100 and fees.interest == 20
    assert fees.total == 4990 + 120 and fee_lines == 2

    # Merchant webhooks fan out after commit: one dispatch job per invoice.paid.
    dispatched = [c for c in runtime.dispatcher.pending if c.name == "events.dispatch"]
    assert sorted(c.kwargs["event_id"] for c in dispatched) == sorted(e.id for e in paid_events)


async def test_sweeping_the_same_successes_again_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    await configure_stripe(runtime, merchant.id)
    insts = [await open_installment(runtime, merchant.id) for _ in range(3)]
    async with unit_of_work(runtime.session_factory) as session:
        await session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id.in_([i.attempt_id for i in insts]))
            .values(gateway_ref="pi_known")
        )
    for inst in insts:
        await _post(
            client,
            merchant.id,
            intent_event("payment_intent.succeeded", key=inst.key, status="succeeded"),
        )
    assert await process_due(runtime.job_context, limit=500) == 3
    # Redelivered later under new event ids (a replay from Stripe's dashboard).
    for inst in insts:
        await _post(
            client,
            merchant.id,
            intent_event("payment_intent.succeeded", key=inst.key, status="succeeded"),
        )
    assert await process_due(runtime.job_context, limit=500) == 3
    async with runtime.session_factory() as session:
        paid = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.merchant_id == merchant.id, Event.type == "invoice.paid")
        )
        amounts = list(
            await session.scalars(
                select(Invoice.amount_paid).where(Invoice.merchant_id == merchant.id)
            )
        )
    assert paid == 3 and amounts == [4990, 4990, 4990]
