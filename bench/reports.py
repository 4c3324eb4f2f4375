"""Benchmark: the report services on 100,000 customers / 1,000,000 installments.

    flock /tmp/billing-bench.lock .venv/bin/python bench/reports.py [--customers 100000]

Creates its own PostgreSQL database on 127.0.0.1 (dropped afterwards), migrates it with
Alembic and seeds, set-based (``generate_series``), one merchant holding everything (a
report is per merchant, so this is the worst case): N customers with a payment method
and a subscription each (four plans: month, year, week; 80 % active, 10 % canceled,
half of those by dunning, 5 % unpaid, 5 % past due; started over the last two years),
10 installments per customer spread over ten months (85 % paid, 10 % open,
3 % uncollectible, 2 % void; a third paid late), one attempt per installment (plus the
successful retry where a retry paid it), a sent collection message for a third of them,
10,000 agreement installments, and 500,000 unrelated events. Then it times each report's
service call (best of 3 after one warm-up): aging, the first page (100) of the debtor
ranking by each sort, one customer's metrics, recovery over 12 months, MRR over 12 months.

Prints a Markdown row per report and the machine, for bench/README.md. Target: < 2 s
each. ``--keep`` leaves the database for EXPLAIN (drop it yourself).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchkit import machine
from billing.db import make_engine
from billing.migrate import upgrade
from billing.reports import service
from billing.reports.mrr import mrr
from billing.reports.recovery import recovery

PG = os.environ.get("BILLING_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
HERE = Path(__file__).resolve().parent
NOW = datetime(2026, 4, 6, 13, 0, tzinfo=UTC)
MID = "mer_r1"
TZ = "America/Sao_Paulo"

SEED = [
    """INSERT INTO merchants (id, name, timezone, currency, created_at)
       VALUES ('mer_r1', 'Bench', 'America/Sao_Paulo', 'BRL', CAST(:now AS timestamptz))""",
    """INSERT INTO plans (id, merchant_id, name, amount, currency, interval, interval_count,
           trial_days, active, metadata, created_at)
       SELECT 'plan_r' || p, 'mer_r1', 'Plan ' || p,
              (ARRAY[10000, 120000, 3000, 5000])[p], 'BRL',
              (ARRAY['month', 'year', 'week', 'month'])[p], 1, 0, true, '{}',
              CAST(:now AS timestamptz)
       FROM generate_series(1, 4) p""",
    """INSERT INTO customers (id, merchant_id, email, name, is_business, locale, metadata,
           created_at)
       SELECT 'cus_r' || i, 'mer_r1', 'p' || i || '@example.com', 'Payer ' || i, false,
              'pt-BR', '{}', CAST(:now AS timestamptz) - interval '800 days'
       FROM generate_series(1, :n) i""",
    """INSERT INTO payment_methods (id, merchant_id, customer_id, gateway_ref, type,
           is_default, created_at)
       SELECT 'pm_r' || i, 'mer_r1', 'cus_r' || i, 'pm_card_visa',
              (ARRAY['card', 'pix', 'boleto'])[i % 3 + 1], true, CAST(:now AS timestamptz)
       FROM generate_series(1, :n) i""",
    """INSERT INTO subscriptions (id, merchant_id, customer_id, plan_id, payment_method_id,
           status, collection_method, days_until_due, anchor_at, period_index,
           current_period_start, current_period_end, cancel_at_period_end, canceled_at,
           ended_at, cycles_billed, pending_credit, created_at)
       SELECT 'sub_r' || i, 'mer_r1', 'cus_r' || i, 'plan_r' || (i % 4 + 1), 'pm_r' || i,
              s.status, 'charge_automatically', 3, s.created, 0, s.created, s.created,
              false, s.ended, s.ended, 1, 0, s.created
       FROM generate_series(1, :n) i,
       LATERAL (SELECT
           CASE WHEN i % 20 < 16 THEN 'active' WHEN i % 20 < 18 THEN 'canceled'
                WHEN i % 20 = 18 THEN 'unpaid' ELSE 'past_due' END AS status,
           CAST(:now AS timestamptz) - ((i % 730) || ' days')::interval AS created,
           CASE WHEN i % 20 IN (16, 17)
                THEN CAST(:now AS timestamptz) - ((i % 300) / 2 || ' days')::interval END
             AS ended) s""",
    """INSERT INTO events (id, merchant_id, type, data, created_at)
       SELECT 'evt_rs' || i, 'mer_r1',
              CASE WHEN i % 20 = 18 THEN 'subscription.unpaid' ELSE 'subscription.canceled' END,
              jsonb_build_object('subscription_id', 'sub_r' || i, 'reason',
                  CASE WHEN i % 20 = 17 THEN 'cancel_at_period_end'
                       ELSE 'payment_retries_exhausted' END),
              CAST(:now AS timestamptz) - ((i % 300) / 2 || ' days')::interval
       FROM generate_series(1, :n) i WHERE i % 20 IN (16, 17, 18)""",
    """INSERT INTO events (id, merchant_id, type, data, created_at)
       SELECT 'evt_rn' || i, 'mer_r1', 'invoice.paid',
              jsonb_build_object('invoice_id', 'inv_r' || i),
              CAST(:now AS timestamptz) - ((i % 300) || ' days')::interval
       FROM generate_series(1, 500000) i""",
    # Installment k (0..9) of customer c is due k months ago-ish; i = k * n + c.
    """INSERT INTO invoices (id, merchant_id, customer_id, subscription_id, number, status,
           collection_method, currency, subtotal, discount, late_fee, interest, total,
           amount_paid, due_at, paid_at, attempt_count, created_at)
       SELECT 'inv_r' || i, 'mer_r1', 'cus_r' || c, 'sub_r' || c, i, v.status,
              'charge_automatically', 'BRL', 10000, 0, 0, 0, 10000,
              CASE WHEN v.status = 'paid' THEN 10000 WHEN i % 7 = 0 THEN 4000 ELSE 0 END,
              v.due, CASE WHEN v.status = 'paid'
                          THEN v.due + ((CASE WHEN i % 3 = 0 THEN i % 40 ELSE 0 END)
                                        || ' days')::interval END,
              -- attempt_count counts failed attempts (payments/outcomes.py): the retried
              -- ones (i % 4 = 1) and the unpaid ones failed once.
              CASE WHEN v.status <> 'paid' OR i % 4 = 1 THEN 1 ELSE 0 END,
              v.due - interval '3 days'
       FROM generate_series(0, 10 * :n - 1) i,
       LATERAL (SELECT i % :n + 1 AS c) cc(c),
       LATERAL (SELECT
           CASE WHEN i % 100 < 85 THEN 'paid' WHEN i % 100 < 95 THEN 'open'
                WHEN i % 100 < 98 THEN 'uncollectible' ELSE 'void' END AS status,
           CAST(:now AS timestamptz) - ((i / :n) * 30 + i % 30 || ' days')::interval AS due) v""",
    """INSERT INTO payment_attempts (id, merchant_id, invoice_id, customer_id,
           payment_method_id, attempt_number, initiated_by, amount, currency, status,
           idempotency_key, attempted_at, completed_at)
       SELECT 'pay_r' || inv.number, 'mer_r1', inv.id, inv.customer_id,
              'pm_r' || substr(inv.customer_id, 6), 1,
              (ARRAY['automatic', 'automatic', 'payer', 'merchant'])[inv.number % 4 + 1],
              10000, 'BRL',
              CASE WHEN inv.status = 'paid' AND inv.number % 4 <> 1 THEN 'succeeded'
                   ELSE 'failed' END,
              'bench:' || inv.number, inv.due_at, inv.due_at
       FROM invoices inv""",
    """INSERT INTO payment_attempts (id, merchant_id, invoice_id, customer_id,
           payment_method_id, attempt_number, initiated_by, amount, currency, status,
           idempotency_key, attempted_at, completed_at)
       SELECT 'pay_rr' || inv.number, 'mer_r1', inv.id, inv.customer_id,
              'pm_r' || substr(inv.customer_id, 6), 2, 'retry', 10000, 'BRL', 'succeeded',
              'bench:r:' || inv.number, inv.paid_at, inv.paid_at
       FROM invoices inv WHERE inv.status = 'paid' AND inv.number % 4 = 1""",
    """INSERT INTO collection_messages (id, merchant_id, customer_id, invoice_id, step_key,
           offset_days, channel, template, tone, status, scheduled_at, deliver_at, attempts,
           sent_at, created_at)
       SELECT 'msg_r' || inv.number, 'mer_r1', inv.customer_id, inv.id, '+3:email', 3,
              'email', 'overdue', 'neutral', 'sent', inv.due_at + interval '3 days',
              inv.due_at + interval '3 days', 1, inv.due_at + interval '3 days',
              inv.due_at + interval '3 days'
       FROM invoices inv WHERE inv.number % 3 = 0""",
    """INSERT INTO agreements (id, merchant_id, customer_id, status, source, payment_method,
           currency, installment_count, principal, fees, waived_fees, discount, total,
           restored_amount, break_after_days, created_at)
       SELECT 'agr_r' || c, 'mer_r1', 'cus_r' || c, 'active', 'api', 'pix', 'BRL', 1,
              10000, 0, 0, 0, 10000, 0, 5, CAST(:now AS timestamptz)
       FROM generate_series(1, :agreements) c""",
    """INSERT INTO agreement_invoices (agreement_id, invoice_id, merchant_id, role, seq, amount)
       SELECT 'agr_r' || c, 'inv_r' || (c - 1), 'mer_r1', 'installment', 1, 10000
       FROM generate_series(1, :agreements) c""",
]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def timed(
    factory: Callable[[], AsyncSession], call: Callable[[AsyncSession], Awaitable[Any]]
) -> float:
    """Best of three after a warm-up, each in its own session (a request's transaction)."""
    best = float("inf")
    for attempt in range(4):
        async with factory() as session:
            t0 = time.perf_counter()
            await call(session)
            elapsed = time.perf_counter() - t0
        if attempt:
            best = min(best, elapsed)
    return best


async def run(customers: int, keep: bool = False) -> dict[str, float]:
    name = f"billing_bench_reports_{uuid.uuid4().hex[:8]}"
    base = PG.replace("postgresql://", "postgresql+asyncpg://")
    admin = make_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{base}/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        started = time.perf_counter()
        async with engine.begin() as conn:
            for statement in SEED:
                await conn.execute(
                    text(statement),
                    {"now": NOW, "n": customers, "agreements": min(10_000, customers // 10)},
                )
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
            count = await conn.scalar(text("SELECT count(*) FROM invoices"))
        progress(f"seeded {customers:,} customers, {count:,} installments in "
                 f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        factory = async_sessionmaker(engine, expire_on_commit=False)
        calls: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
            "aging": lambda s: service.aging(s, MID, now=NOW),
            **{f"debtors by {sort}": first_page(sort) for sort in service.DEBTOR_SORTS},
            "debtors by score, pages 1 and 2": lambda s: second_page(s),
            "customer metrics": lambda s: service.customer_metrics(s, MID, "cus_r42", "BRL"),
            "recovery (12 months)": lambda s: recovery(s, MID, now=NOW, timezone=TZ),
            "MRR (12 months)": lambda s: mrr(s, MID, currency="BRL", now=NOW, timezone=TZ),
        }
        results = {}
        for label, call in calls.items():
            results[label] = await timed(factory, call)
            progress(f"{label}: {results[label]:.3f} s")
        await engine.dispose()
        return results
    finally:
        if keep:  # for EXPLAIN by hand; drop it yourself
            progress(f"kept database {name}")
        else:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def first_page(sort: str) -> Callable[[AsyncSession], Awaitable[Any]]:
    async def call(session: AsyncSession) -> None:
        await service.debtors(session, MID, now=NOW, sort=sort, limit=100)

    return call


async def second_page(session: AsyncSession) -> None:
    first = await service.debtors(session, MID, now=NOW, sort="score", limit=100)
    await service.debtors(
        session, MID, now=NOW, sort="score", limit=100,
        starting_after=first.rows[-1].customer_id,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    results = asyncio.run(run(args.customers, args.keep))
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    rows = [
        f"| {when} | {args.customers:,} / {10 * args.customers:,} | {label} | "
        f"{'**' if s < 2 else ''}{s:.3f} s{'**' if s < 2 else ''} |"
        for label, s in results.items()
    ]
    print("\n".join(rows))
    print(machine())


if __name__ == "__main__":
    main()
