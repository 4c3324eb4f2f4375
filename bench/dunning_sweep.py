"""Benchmark: the collections sweeps over N overdue installments on PostgreSQL.

    .venv/bin/python bench/dunning_sweep.py --n 100000

Creates its own PostgreSQL database on 127.0.0.1 (dropped afterwards), migrates it with
Alembic, seeds N overdue ``charge_automatically`` installments set-based (each with one
failed automatic charge, soft decline), then times:

1. the retry planner (``dunning.plan_retries``): selects every unhandled failure (keyset
   batches of 10,000, LATERAL latest-attempt lookup), plans the retry
   (``next_payment_attempt``) and writes the dunning state (two ``unnest`` statements);
2. the ruler (``collection.run_ruler``): queues the due step of every installment in the
   outbox (one ``INSERT ... SELECT`` per merchant and step) and enqueues one delivery job
   per message.

Appends the rates to bench/README.md. Target: the whole sweep in < 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from benchkit import machine, record
from billing.collection.tasks import run_ruler
from billing.config import Settings
from billing.db import make_engine
from billing.dunning.tasks import plan_retries
from billing.jobs import JobCall, JobContext, load_tasks
from billing.kit.clock import FixedClock
from billing.migrate import upgrade
from billing.models import CollectionMessage, DunningState, Invoice
from billing.runtime import session_factory_for

PG = os.environ.get("BILLING_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
HERE = Path(__file__).resolve().parent
NOW = datetime(2026, 3, 20, 13, 0, tzinfo=UTC)  # Friday 10:00 in São Paulo
MERCHANTS = 10


class CountJobs:
    """The queue is not what is measured: jobs are handed over and counted."""

    def __init__(self) -> None:
        self.count = 0

    async def dispatch(self, calls: list[JobCall]) -> None:
        self.count += len(calls)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


SEED = [
    """INSERT INTO merchants (id, name, timezone, currency, created_at, document,
           support_email, support_phone, legal_name)
       SELECT 'mer_b' || m, 'Merchant ' || m, 'America/Sao_Paulo', 'BRL', CAST(:now AS timestamptz),
              '11222333000181', 'help@example.com', '+55 11 4000-0000', 'Merchant Ltda'
       FROM generate_series(1, :merchants) m""",
    """INSERT INTO plans (id, merchant_id, name, amount, currency, interval, interval_count,
           trial_days, active, metadata, created_at)
       SELECT 'plan_b' || m, 'mer_b' || m, 'Pro', 10000, 'BRL', 'month', 1, 0, true, '{}',
              CAST(:now AS timestamptz)
       FROM generate_series(1, :merchants) m""",
    """INSERT INTO customers (id, merchant_id, email, name, is_business, locale, metadata,
           created_at)
       SELECT 'cus_b' || i, 'mer_b' || (i % :merchants + 1), 'p' || i || '@example.com',
              'Payer ' || i, false, 'pt-BR', '{}', CAST(:now AS timestamptz)
       FROM generate_series(1, :n) i""",
    """INSERT INTO payment_methods (id, merchant_id, customer_id, gateway_ref, type,
           is_default, created_at)
       SELECT 'pm_b' || i, 'mer_b' || (i % :merchants + 1), 'cus_b' || i, 'pm_card_visa',
              'card', true, CAST(:now AS timestamptz)
       FROM generate_series(1, :n) i""",
    """INSERT INTO subscriptions (id, merchant_id, customer_id, plan_id, payment_method_id,
           status, collection_method, days_until_due, anchor_at, period_index,
           current_period_start, current_period_end, cancel_at_period_end, cycles_billed,
           pending_credit, created_at)
       SELECT 'sub_b' || i, 'mer_b' || (i % :merchants + 1), 'cus_b' || i,
              'plan_b' || (i % :merchants + 1), 'pm_b' || i, 'past_due',
              'charge_automatically', 3, CAST(:now AS timestamptz), 0,
              CAST(:now AS timestamptz), CAST(:now AS timestamptz) + interval '30 days', false, 1,
              0, CAST(:now AS timestamptz)
       FROM generate_series(1, :n) i""",
    # Due 1 to 20 days ago, at 10:00 local: every ruler step has some installments.
    """INSERT INTO invoices (id, merchant_id, customer_id, subscription_id, number, status,
           collection_method, currency, subtotal, discount, late_fee, interest, total,
           amount_paid, due_at, attempt_count, created_at)
       SELECT 'inv_b' || lpad(i::text, 25, '0'), 'mer_b' || (i % :merchants + 1),
              'cus_b' || i, 'sub_b' || i, i, 'open', 'charge_automatically', 'BRL', 10000, 0,
              0, 0, 10000, 0, CAST(:now AS timestamptz) - ((i % 20 + 1) || ' days')::interval, 1,
              CAST(:now AS timestamptz)
       FROM generate_series(1, :n) i""",
    """INSERT INTO payment_attempts (id, merchant_id, invoice_id, customer_id,
           payment_method_id, attempt_number, initiated_by, amount, currency, status,
           idempotency_key, failure_code, decline_code, decline_type, attempted_at,
           completed_at)
       SELECT 'pay_b' || i, inv.merchant_id, inv.id, inv.customer_id, 'pm_b' || i, 1,
              'automatic', 10000, 'BRL', 'failed', 'bench:' || i, 'card_declined',
              'insufficient_funds', 'soft', inv.due_at, inv.due_at
       FROM generate_series(1, :n) i
       JOIN invoices inv ON inv.id = 'inv_b' || lpad(i::text, 25, '0')""",
]


async def run(n: int) -> dict[str, float]:
    name = f"billing_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(f"{PG.replace('postgresql://', 'postgresql+asyncpg://')}/postgres",
                        isolation_level="AUTOCOMMIT")  # fmt: skip
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        jobs = CountJobs()
        factory = session_factory_for(engine, jobs)
        started = time.perf_counter()
        async with engine.begin() as conn:
            for statement in SEED:
                await conn.execute(text(statement), {"now": NOW, "n": n, "merchants": MERCHANTS})
            await conn.execute(text("ANALYZE"))
        progress(f"seeded {n:,} overdue installments in {time.perf_counter() - started:.1f} s")
        load_tasks()
        ctx = JobContext(
            settings=Settings(database_url=url, secret_key="bench"),
            session_factory=factory,
            clock=FixedClock(NOW),
            dispatcher=jobs,
        )
        t0 = time.perf_counter()
        planned = await plan_retries(ctx)
        t1 = time.perf_counter()
        ruler = await run_ruler(ctx)
        t2 = time.perf_counter()
        async with factory() as session:
            states = await session.scalar(select(func.count()).select_from(DunningState))
            queued = await session.scalar(select(func.count()).select_from(CollectionMessage))
            retrying = await session.scalar(
                select(func.count()).where(Invoice.next_payment_attempt.is_not(None))
            )
        # Every soft decline got its retry time and its state, every installment a message.
        assert states == n and retrying == n and queued == n, (states, retrying, queued)
        progress(f"planner: {planned} in {t1 - t0:.2f} s; ruler: {ruler} in {t2 - t1:.2f} s")
        await engine.dispose()
        return {
            "n": n,
            "planner_s": t1 - t0,
            "planned": planned["planned"],
            "ruler_s": t2 - t1,
            "queued": float(queued or 0),
            "jobs": jobs.count,
            "total_s": t2 - t0,
        }
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    r = asyncio.run(run(args.n))
    n = int(r["n"])
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {n:,} | {r['planner_s']:.2f} s "
        f"({n / r['planner_s']:,.0f}/s) | {r['ruler_s']:.2f} s ({r['queued'] / r['ruler_s']:,.0f}"
        f" messages/s, {int(r['jobs']):,} jobs) | **{r['total_s']:.2f} s** "
        f"({n / r['total_s']:,.0f} installments/s) | {machine()} |"
    )
    print(row)
    if not args.no_record:
        heading = "## dunning_sweep.py"
        record(
            HERE / "README.md",
            heading,
            row,
            f"{heading} — retry planner and collection ruler\n\n"
            "`.venv/bin/python bench/dunning_sweep.py --n 100000`: N overdue installments "
            "(10 merchants, each with one failed automatic charge, due 1–20 days ago). "
            "Times the retry planner and the ruler. Target: whole sweep < 10 s.\n\n"
            "| when (UTC) | N | planner | ruler | whole sweep | machine |\n"
            "|---|---|---|---|---|---|\n",
        )


if __name__ == "__main__":
    main()
