"""Benchmark: the set-based billing run against one transaction per subscription.

    .venv/bin/python bench/billing_run.py --n 100000 [--batch 5000] [--workers 2] [--sample 2000]

Creates its own PostgreSQL database on 127.0.0.1 (dropped afterwards), migrates it with
Alembic, seeds N due subscriptions set-based, times the billing run (``--workers`` run
loops sharing it by batches, as several worker processes do: each its own connection,
``FOR UPDATE SKIP LOCKED``), then times the same renewal done one subscription per
transaction (ORM, as a naive job per subscription would) on a sample, and adds both rates
and their ratio to its table in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from benchkit import PG_ADMIN, admin, machine, record
from billing.config import Settings
from billing.db import make_engine, unit_of_work
from billing.invoices.service import LineDraft, create_invoice, hand_off_for_collection
from billing.jobs import JobCall
from billing.kit.clock import FixedClock
from billing.kit.ids import new_id
from billing.migrate import upgrade
from billing.models import Customer, Invoice, Merchant, Plan, Subscription
from billing.runtime import session_factory_for
from billing.subscriptions.periods import period_boundary
from billing.subscriptions.renewal import run_billing

PG = PG_ADMIN
HERE = Path(__file__).resolve().parent
PERIOD_END = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
NOW = PERIOD_END + timedelta(hours=1)
MERCHANTS = 10
CHUNK = 10_000


class DropJobs:
    """The queue is not what is measured: jobs are handed over and dropped."""

    def __init__(self) -> None:
        self.count = 0

    async def dispatch(self, calls: list[JobCall]) -> None:
        self.count += len(calls)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def seed(factory: Any, n: int, tag: str) -> list[str]:
    """N due monthly subscriptions over MERCHANTS merchants; returns their merchant ids."""
    start = PERIOD_END - timedelta(days=31)
    merchants = [new_id("mer") for _ in range(MERCHANTS)]
    plans = {m: new_id("plan") for m in merchants}
    async with unit_of_work(factory) as session:
        await session.execute(
            insert(Merchant),
            [
                {
                    "id": m,
                    "name": f"Bench {tag} {i}",
                    "timezone": "America/Sao_Paulo",
                    "currency": "BRL",
                    "created_at": start,
                }
                for i, m in enumerate(merchants)
            ],
        )
        await session.execute(
            insert(Plan),
            [
                {
                    "id": plans[m],
                    "merchant_id": m,
                    "name": "Mensal",
                    "amount": 4990,
                    "currency": "BRL",
                    "interval": "month",
                    "interval_count": 1,
                    "trial_days": 0,
                    "billing_cycles": None,
                    "active": True,
                    "metadata_": {},
                    "created_at": start,
                }
                for m in merchants
            ],
        )
    done = 0
    while done < n:
        size = min(CHUNK, n - done)
        customers = []
        subs = []
        for i in range(size):
            merchant = merchants[(done + i) % MERCHANTS]
            cid = new_id("cus")
            customers.append(
                {
                    "id": cid,
                    "merchant_id": merchant,
                    "email": f"c{done + i}@example.com",
                    "name": "Cliente",
                    "is_business": False,
                    "locale": "pt-BR",
                    "metadata_": {},
                    "created_at": start,
                }
            )
            subs.append(
                {
                    "id": new_id("sub"),
                    "merchant_id": merchant,
                    "customer_id": cid,
                    "plan_id": plans[merchant],
                    "status": "active",
                    "collection_method": "charge_automatically",
                    "days_until_due": 3,
                    "anchor_at": start,
                    "period_index": 0,
                    "current_period_start": start,
                    "current_period_end": PERIOD_END,
                    "cancel_at_period_end": False,
                    "cycles_billed": 1,
                    "pending_credit": 0,
                    "created_at": start,
                }
            )
        async with unit_of_work(factory) as session:
            await session.execute(insert(Customer), customers)
            await session.execute(insert(Subscription), subs)
        done += size
        progress(f"  seeded {done:,}/{n:,}")
    return merchants


async def one_per_transaction(factory: Any, clock: FixedClock, ids: list[str]) -> None:
    """The way the run must not be written: ORM objects, one transaction each."""
    for sub_id in ids:
        async with unit_of_work(factory) as session:
            sub = await session.get(Subscription, sub_id, with_for_update=True)
            assert sub is not None
            if sub.current_period_end > clock.now():
                continue
            plan = await session.get(Plan, sub.plan_id)
            merchant = await session.get(Merchant, sub.merchant_id)
            assert plan is not None and merchant is not None
            index = sub.period_index + 1
            start = sub.current_period_end
            end = period_boundary(
                sub.anchor_at, "month", plan.interval_count, index + 1, merchant.timezone
            )
            invoice = await create_invoice(
                session,
                merchant_id=sub.merchant_id,
                customer_id=sub.customer_id,
                subscription_id=sub.id,
                currency=plan.currency,
                lines=[LineDraft("subscription", plan.name, plan.amount, start, end)],
                due_at=start,
                now=clock.now(),
                collection_method=sub.collection_method,
                period_start=start,
                period_end=end,
            )
            hand_off_for_collection(session, invoice)
            sub.period_index, sub.current_period_start, sub.current_period_end = index, start, end
            sub.cycles_billed += 1


HEADING = "## billing_run.py"


SECTION = (
    f"{HEADING} — renewals per second\n\n"
    "`.venv/bin/python bench/billing_run.py --n 100000`: N due subscriptions renewed "
    "by the set-based billing run (invoice, line, event, period advance, charge "
    "hand-off), against the same work done one subscription per transaction with ORM "
    "objects, measured in the same run. Target: ≥ 15,000/s and ≥ 20×.\n\n"
    "| when (UTC) | N | batch × workers | run time | run rate | one per transaction "
    "| ratio | machine |\n|---|---|---|---|---|---|---|---|\n"
)


async def pg_version(factory: Any) -> str:
    async with factory() as session:
        return str(await session.scalar(select(func.current_setting("server_version"))))


async def main(n: int, batch: int, workers: int, sample: int, keep: bool) -> int:
    name = f"billing_bench_{uuid.uuid4().hex[:8]}"
    url = f"{PG.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    progress(f"creating database {name} and migrating…")
    await admin(f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        jobs = DropJobs()
        factory = session_factory_for(engine, jobs)
        clock = FixedClock(NOW)
        version = await pg_version(factory)
        progress(f"seeding {n:,} due subscriptions…")
        await seed(factory, n, "run")
        progress(f"billing run ({workers} workers, batches of {batch})…")
        t0 = time.perf_counter()
        results = await asyncio.gather(
            *(run_billing(factory, clock, batch_size=batch) for _ in range(workers))
        )
        run_s = time.perf_counter() - t0
        result = results[0]
        for other in results[1:]:
            result.add(other)
        assert result.invoices_created == n, result
        assert jobs.count == 2 * n, jobs.count  # one event dispatch and one charge each
        run_rate = n / run_s
        progress(f"  {n:,} renewed in {run_s:.2f}s = {run_rate:,.0f}/s ({result.batches} batches)")

        progress(f"seeding {sample:,} more for one transaction per subscription…")
        await seed(factory, sample, "naive")
        async with factory() as session:
            ids = list(
                (
                    await session.scalars(
                        select(Subscription.id).where(Subscription.current_period_end <= NOW)
                    )
                ).all()
            )
        t0 = time.perf_counter()
        await one_per_transaction(factory, clock, ids)
        naive_s = time.perf_counter() - t0
        naive_rate = len(ids) / naive_s
        ratio = run_rate / naive_rate
        progress(f"  {len(ids):,} renewed in {naive_s:.2f}s = {naive_rate:,.0f}/s")
        async with factory() as session:
            invoices = await session.scalar(select(func.count()).select_from(Invoice))
        assert invoices == 2 * n + len(ids) - n or invoices == n + len(ids), invoices
        await engine.dispose()
        line = (
            f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {n:,} | {batch} × {workers} | {run_s:.2f} s | "
            f"**{run_rate:,.0f}/s** | {naive_rate:,.0f}/s ({len(ids):,} sample) | "
            f"**{ratio:.1f}×** | {machine()}; PostgreSQL {version} |"
        )
        print(line)
        record(HERE / "README.md", HEADING, line, SECTION)
        return 0
    finally:
        if not keep:
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="run loops sharing the run")
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    _ = Settings  # settings are not needed: the bench builds its own engine
    sys.exit(asyncio.run(main(args.n, args.batch, args.workers, args.sample, args.keep)))
