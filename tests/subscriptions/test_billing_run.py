"""The billing run is idempotent, shares work between concurrent workers without billing
twice, keeps invoice numbers gap-free, and rolls a failed batch back entirely."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.conftest import BACKENDS, Database, make_database, make_runtime, new_merchant
from tests.subscriptions.helpers import bill, seed_due_subscriptions

from billing.db import unit_of_work
from billing.kit.clock import FixedClock
from billing.models import Invoice, Subscription
from billing.runtime import Runtime
from billing.subscriptions.renewal import renew_batch, run_billing

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


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgres"])
async def test_a_second_worker_renews_another_merchant_instead_of_waiting(
    backend: str, tmp_path: Path
) -> None:
    """Invoice numbers are taken under the merchant's lock until commit (no gaps). While
    one worker's batch of merchant A is still open, another worker claims merchant B and
    renews it at once, instead of queueing behind A's numbers. (SQLite has one writer:
    its batches take turns by design.)"""
    database, cleanup = await asyncio.to_thread(make_database, backend, tmp_path)
    clock = FixedClock(DUE)
    first = await make_runtime(database, clock)
    second = await make_runtime(database, clock)
    try:
        a, b = await new_merchant(first, "Loja A"), await new_merchant(first, "Loja B")
        for _ in range(2):  # interleaved, so that the earliest 20 due rows mix both
            await seed_due_subscriptions(first, a.id, 10, period_end=DUE)
            await seed_due_subscriptions(first, b.id, 10, period_end=DUE)
        clock.set(AFTER)
        async with unit_of_work(first.session_factory) as held:
            one, _ = await renew_batch(held, AFTER, limit=20)
            async with unit_of_work(second.session_factory) as session:
                # Before merchants were claimed this waited for the first batch's commit.
                two, _ = await asyncio.wait_for(renew_batch(session, AFTER, limit=20), 10)
        assert one.invoices_created == two.invoices_created == 20
        # Each batch was one merchant's whole set, numbered from 1 without gaps.
        for merchant in (a, b):
            invoices = await _invoices(first, merchant.id)
            assert [n for _, n in invoices] == list(range(1, 21))
            assert len({s for s, _ in invoices}) == 20
    finally:
        await first.close()
        await second.close()
        await asyncio.to_thread(cleanup)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgres"])
async def test_many_small_merchants_fill_one_batch_within_a_few_locks(
    backend: str, tmp_path: Path
) -> None:
    """Claiming merchants is for few big ones. Due rows spread over many merchants still
    make full batches (no throttling to the claimable few), and a batch never holds more
    than MAX_CLAIMED merchant locks (PostgreSQL's shared lock table is small)."""
    from sqlalchemy import text

    from billing.subscriptions.renewal_pg import MAX_CLAIMED

    database, cleanup = await asyncio.to_thread(make_database, backend, tmp_path)
    clock = FixedClock(DUE)
    runtime = await make_runtime(database, clock)
    try:
        merchants = [await new_merchant(runtime, f"Loja {i}") for i in range(3 * MAX_CLAIMED)]
        for merchant in merchants:
            await seed_due_subscriptions(runtime, merchant.id, 1, period_end=DUE)
        clock.set(AFTER)
        async with unit_of_work(runtime.session_factory) as session:
            result, _ = await renew_batch(session, AFTER, limit=len(merchants))
            locks = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid()"
                )
            )
        assert result.invoices_created == len(merchants)
        assert (locks or 0) <= MAX_CLAIMED
    finally:
        await runtime.close()
        await asyncio.to_thread(cleanup)
