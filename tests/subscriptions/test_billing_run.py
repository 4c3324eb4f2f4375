"""The billing run is idempotent, shares work between concurrent workers without billing
twice, keeps invoice numbers gap-free, and rolls a failed batch back entirely."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from tests.conftest import Database, make_runtime, new_merchant
from tests.subscriptions.helpers import bill, seed_due_subscriptions

from billing.kit.clock import FixedClock
from billing.models import Invoice, Subscription
from billing.runtime import Runtime
from billing.subscriptions.renewal import run_billing

DUE = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
AFTER = datetime(2026, 2, 1, 13, 0, tzinfo=UTC)


async def _invoices(runtime: Runtime, merchant_id: str) -> list[tuple[str | None, int]]:
    async with runtime.session_factory() as session:
        rows = await session.execute(
            select(Invoice.subscription_id, Invoice.number)
            .where(Invoice.merchant_id == merchant_id)
            .order_by(Invoice.number)
        )
        return [(s, n) for s, n in rows.all()]


async def _periods(runtime: Runtime, merchant_id: str) -> dict[str, tuple[int, int]]:
    async with runtime.session_factory() as session:
        rows = await session.execute(
            select(Subscription.id, Subscription.period_index, Subscription.cycles_billed).where(
                Subscription.merchant_id == merchant_id
            )
        )
        return {sid: (index, cycles) for sid, index, cycles in rows.all()}


async def test_running_twice_creates_each_invoice_once(runtime: Runtime, clock: FixedClock) -> None:
    merchant = await new_merchant(runtime)
    subs = await seed_due_subscriptions(runtime, merchant.id, 30, period_end=DUE)
    clock.set(AFTER)
    await bill(runtime, batch_size=7)
    await bill(runtime, batch_size=7)
    invoices = await _invoices(runtime, merchant.id)
    assert sorted(s for s, _ in invoices if s) == sorted(subs)
    assert [n for _, n in invoices] == list(range(1, 31))
    assert set((await _periods(runtime, merchant.id)).values()) == {(1, 2)}


async def test_a_crash_mid_batch_leaves_no_half_renewed_subscription(
    runtime: Runtime, clock: FixedClock
) -> None:
    merchant = await new_merchant(runtime)
    await seed_due_subscriptions(runtime, merchant.id, 12, period_end=DUE)
    clock.set(AFTER)

    def crash(stage: str) -> None:
        if stage == "invoices_inserted":
            raise RuntimeError("worker killed after inserting the invoices")

    with pytest.raises(RuntimeError):
        await bill(runtime, batch_size=5, checkpoint=crash)
    assert await _invoices(runtime, merchant.id) == []
    assert set((await _periods(runtime, merchant.id)).values()) == {(0, 1)}
    await bill(runtime, batch_size=5)
    assert [n for _, n in await _invoices(runtime, merchant.id)] == list(range(1, 13))
    assert set((await _periods(runtime, merchant.id)).values()) == {(1, 2)}


async def test_concurrent_workers_bill_each_period_exactly_once(
    fresh_database: Database,
) -> None:
    """Two workers, each with its own engine and connections, race over the same run."""
    clock = FixedClock(DUE)
    workers = [await make_runtime(fresh_database, clock) for _ in range(3)]
    try:
        merchants = [await new_merchant(workers[0], f"Loja {i}") for i in range(2)]
        for merchant in merchants:
            await seed_due_subscriptions(workers[0], merchant.id, 250, period_end=DUE)
        clock.set(AFTER)
        results = await asyncio.gather(
            *(run_billing(w.session_factory, w.clock, batch_size=40) for w in workers)
        )
        assert sum(r.invoices_created for r in results) == 500
        for merchant in merchants:
            invoices = await _invoices(workers[0], merchant.id)
            assert [n for _, n in invoices] == list(range(1, 251))
            assert len({s for s, _ in invoices}) == 250
        async with workers[0].session_factory() as session:
            total = await session.scalar(select(func.count()).select_from(Invoice))
        assert total == 500
    finally:
        for w in workers:
            await w.close()
