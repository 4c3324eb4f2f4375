"""The retry planner: soft schedule, hard and authentication declines, exhaustion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from tests.conftest import MerchantAccount
from tests.dunning.dunning_seed import Installment, add_attempt, seed_installment

from billing.db import unit_of_work
from billing.dunning.planner import retry_overdue_now
from billing.dunning.tasks import plan_retries
from billing.kit.clock import FixedClock
from billing.models import DunningState, Event, Invoice, Subscription
from billing.runtime import Runtime

FIRST_FAILURE = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # Monday 10:00 in São Paulo


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def _policy(client: AsyncClient, merchant: MerchantAccount, **body: object) -> None:
    base = {"retry_schedule_hours": [24, 72, 120, 168], "jitter_minutes": 0}
    response = await client.put(
        "/v1/settings/dunning", json={**base, **body}, headers=merchant.headers
    )
    assert response.status_code == 200, response.text


async def _seed(runtime: Runtime, merchant: MerchantAccount) -> Installment:
    async with unit_of_work(runtime.session_factory) as session:
        return await seed_installment(session, merchant.id, due_at=FIRST_FAILURE, now=FIRST_FAILURE)


async def _fail(
    runtime: Runtime, inst: Installment, number: int, at: datetime, **kw: object
) -> None:
    async with unit_of_work(runtime.session_factory) as session:
        await add_attempt(session, inst, number=number, at=at, **kw)  # type: ignore[arg-type]


async def _invoice(runtime: Runtime, invoice_id: str) -> Invoice:
    async with runtime.session_factory() as session:
        invoice = await session.get(Invoice, invoice_id)
        assert invoice is not None
        return invoice


async def _state(runtime: Runtime, invoice_id: str) -> DunningState:
    async with runtime.session_factory() as session:
        state = await session.get(DunningState, invoice_id)
        assert state is not None
        return state


async def _subscription(runtime: Runtime, sub_id: str) -> Subscription:
    async with runtime.session_factory() as session:
        sub = await session.get(Subscription, sub_id)
        assert sub is not None
        return sub


async def test_soft_declines_follow_the_schedule_in_sao_paulo_business_hours(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    await _policy(client, merchant, max_attempts=5)
    inst = await _seed(runtime, merchant)
    expected = [
        utc(2026, 3, 3, 13),  # +24 h: Tuesday 10:00 local
        utc(2026, 3, 5, 13),  # +72 h: Thursday 10:00
        utc(2026, 3, 9, 12),  # +120 h is Saturday 10:00: moved to Monday 09:00
        utc(2026, 3, 9, 13),  # +168 h: Monday 10:00
    ]
    at = FIRST_FAILURE
    for number, when in enumerate(expected, start=1):
        clock.set(at)
        await _fail(runtime, inst, number, at)
        await plan_retries(runtime.job_context)
        invoice = await _invoice(runtime, inst.invoice_id)
        assert invoice.next_payment_attempt == when, number
        state = await _state(runtime, inst.invoice_id)
        assert (state.status, state.failures) == ("retrying", number)
        # A repeated sweep changes nothing.
        await plan_retries(runtime.job_context)
        assert (await _invoice(runtime, inst.invoice_id)).next_payment_attempt == when
        at = when
    # The fifth failure uses the last attempt: the final action (default mark_unpaid).
    clock.set(at)
    await _fail(runtime, inst, 5, at)
    await plan_retries(runtime.job_context)
    assert (await _invoice(runtime, inst.invoice_id)).next_payment_attempt is None
    assert (await _invoice(runtime, inst.invoice_id)).status == "open"
    state = await _state(runtime, inst.invoice_id)
    assert (state.status, state.final_action) == ("final_action_taken", "mark_unpaid")
    assert (await _subscription(runtime, inst.subscription_id)).status == "unpaid"


async def test_payday_shift_moves_insufficient_funds_to_the_next_payday(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    await _policy(client, merchant, payday_shift=True)
    inst = await _seed(runtime, merchant)
    clock.set(FIRST_FAILURE)
    await _fail(runtime, inst, 1, FIRST_FAILURE, decline_code="insufficient_funds")
    await plan_retries(runtime.job_context)
    # Tuesday 3rd is not a payday; the 5th business day of March 2026 is Friday the 6th.
    invoice = await _invoice(runtime, inst.invoice_id)
    assert invoice.next_payment_attempt == utc(2026, 3, 6, 12)


@pytest.mark.parametrize(
    ("status", "decline_type", "code"),
    [
        ("failed", "hard", "stolen_card"),
        ("requires_action", "authentication_required", "authentication_required"),
    ],
)
async def test_hard_and_authentication_declines_are_not_retried(
    runtime: Runtime,
    client: AsyncClient,
    merchant: MerchantAccount,
    clock: FixedClock,
    status: str,
    decline_type: str,
    code: str,
) -> None:
    await _policy(client, merchant, final_action="cancel")
    inst = await _seed(runtime, merchant)
    clock.set(FIRST_FAILURE)
    await _fail(runtime, inst, 1, FIRST_FAILURE, status=status, decline_type=decline_type,
                decline_code=code)  # fmt: skip
    await plan_retries(runtime.job_context)
    assert (await _invoice(runtime, inst.invoice_id)).next_payment_attempt is None
    state = await _state(runtime, inst.invoice_id)
    assert state.status == "awaiting_payer"
    assert state.decline_type == decline_type
    # Nobody answers: when the schedule would have ended (168 h), the final action.
    assert state.final_action_at == FIRST_FAILURE + timedelta(hours=168)
    clock.set(FIRST_FAILURE + timedelta(hours=167))
    await plan_retries(runtime.job_context)
    assert (await _subscription(runtime, inst.subscription_id)).status == "past_due"
    clock.set(FIRST_FAILURE + timedelta(hours=168))
    await plan_retries(runtime.job_context)
    sub = await _subscription(runtime, inst.subscription_id)
    assert sub.status == "canceled"
    assert sub.canceled_at == FIRST_FAILURE + timedelta(hours=168)


@pytest.mark.parametrize(
    ("action", "status"),
    [("cancel", "canceled"), ("mark_unpaid", "unpaid"), ("leave_past_due", "past_due")],
)
async def test_exhaustion_takes_the_final_action(
    runtime: Runtime,
    client: AsyncClient,
    merchant: MerchantAccount,
    clock: FixedClock,
    action: str,
    status: str,
) -> None:
    await _policy(client, merchant, max_attempts=2, final_action=action)
    inst = await _seed(runtime, merchant)
    clock.set(FIRST_FAILURE)
    await _fail(runtime, inst, 1, FIRST_FAILURE)
    await plan_retries(runtime.job_context)
    retry_at = (await _invoice(runtime, inst.invoice_id)).next_payment_attempt
    assert retry_at == utc(2026, 3, 3, 13)
    clock.set(retry_at)
    await _fail(runtime, inst, 2, retry_at, initiated_by="retry")
    await plan_retries(runtime.job_context)
    invoice = await _invoice(runtime, inst.invoice_id)
    assert invoice.next_payment_attempt is None
    assert invoice.status == "open"  # the debt stays collectible by the ruler and portal
    assert (await _subscription(runtime, inst.subscription_id)).status == status
    state = await _state(runtime, inst.invoice_id)
    assert state.final_action == action
    async with runtime.session_factory() as session:
        types = set(
            await session.scalars(select(Event.type).where(Event.merchant_id == merchant.id))
        )
    assert (f"subscription.{status}" in types) == (action != "leave_past_due")


async def test_payer_initiated_payments_are_not_retries(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    await _policy(client, merchant, max_attempts=2)
    inst = await _seed(runtime, merchant)
    clock.set(FIRST_FAILURE)
    await _fail(runtime, inst, 1, FIRST_FAILURE)
    await plan_retries(runtime.job_context)
    planned = (await _invoice(runtime, inst.invoice_id)).next_payment_attempt
    # The payer tries in the portal and fails twice: neither counts nor replans.
    for number in (2, 3):
        at = FIRST_FAILURE + timedelta(hours=number)
        clock.set(at)
        await _fail(runtime, inst, number, at, initiated_by="payer")
        async with unit_of_work(runtime.session_factory) as session:
            # payments leaves a planned retry alone on a payer attempt; restore it here.
            invoice = await session.get(Invoice, inst.invoice_id)
            assert invoice is not None
            invoice.next_payment_attempt = planned
        await plan_retries(runtime.job_context)
    state = await _state(runtime, inst.invoice_id)
    assert (state.failures, state.status) == (1, "retrying")
    assert (await _invoice(runtime, inst.invoice_id)).next_payment_attempt == planned
    assert (await _subscription(runtime, inst.subscription_id)).status == "past_due"


async def test_a_new_default_method_retries_every_overdue_installment_now(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    await _policy(client, merchant)
    inst = await _seed(runtime, merchant)
    clock.set(FIRST_FAILURE)
    await _fail(runtime, inst, 1, FIRST_FAILURE, decline_type="hard", decline_code="lost_card")
    async with unit_of_work(runtime.session_factory) as session:
        second = await seed_installment(
            session, merchant.id, due_at=FIRST_FAILURE - timedelta(days=30),
            now=FIRST_FAILURE, customer_id=inst.customer_id,
        )  # fmt: skip
        future = await seed_installment(
            session, merchant.id, due_at=FIRST_FAILURE + timedelta(days=30),
            now=FIRST_FAILURE, customer_id=inst.customer_id,
        )  # fmt: skip
    await plan_retries(runtime.job_context)
    now = FIRST_FAILURE + timedelta(days=2)
    async with unit_of_work(runtime.session_factory) as session:
        assert await retry_overdue_now(session, merchant.id, inst.customer_id, now) == 2
    assert (await _invoice(runtime, inst.invoice_id)).next_payment_attempt == now
    assert (await _invoice(runtime, second.invoice_id)).next_payment_attempt == now
    assert (await _invoice(runtime, future.invoice_id)).next_payment_attempt is None
    state = await _state(runtime, inst.invoice_id)
    assert (state.status, state.final_action_at) == ("retrying", None)


async def test_planning_loops_share_the_sweep_and_plan_each_failure_once(
    runtime: Runtime, merchant: MerchantAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL two loops walk the failures at once (each batch skips the other's
    locked installments); small batches make them interleave. Every failure gets exactly
    one dunning state and its retry; nothing is skipped or planned twice."""
    import billing.dunning.tasks as tasks

    monkeypatch.setattr(tasks, "BATCH", 4)
    installments = []
    async with unit_of_work(runtime.session_factory) as session:
        for _ in range(30):
            inst = await seed_installment(
                session, merchant.id, due_at=FIRST_FAILURE, now=FIRST_FAILURE
            )
            await add_attempt(session, inst, number=1, at=FIRST_FAILURE)
            installments.append(inst)
    runtime.clock.set(FIRST_FAILURE + timedelta(hours=1))  # type: ignore[attr-defined]
    result = await plan_retries(runtime.job_context)
    assert result["planned"] == 30
    async with runtime.session_factory() as session:
        states = (await session.scalars(select(DunningState))).all()
        planned = (
            await session.scalars(
                select(Invoice.id).where(Invoice.next_payment_attempt.is_not(None))
            )
        ).all()
    assert sorted(s.invoice_id for s in states) == sorted(i.invoice_id for i in installments)
    assert len(planned) == 30
    # A second sweep finds nothing new.
    assert (await plan_retries(runtime.job_context))["planned"] == 0
