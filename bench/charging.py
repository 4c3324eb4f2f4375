"""Charging throughput: N due invoices, the sandbox gateway at a fixed latency, charge_due.

    .venv/bin/python bench/charging.py --n 10000 --latency 0.2 --concurrency 200

Creates its own PostgreSQL database (dropped at the end unless --keep), migrated with
Alembic; seeds one merchant with N customers, each with a sandbox card attached through the
gateway and one open invoice due now; then runs ``payments.charge_due`` (every charge the
full protocol: lock, attempt committed, gateway call, outcome committed) and reports
charges per second. ``--concurrency 50,100,200`` measures several values on fresh invoices.
``--workers W`` runs W worker processes sweeping at once (as W arq workers would).

Events are buffered and handed to a dispatcher that only counts them (in production they
go to Redis and are fanned out by other workers), so the figure is the charging path alone.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import func, insert, select

from benchkit import PG_ADMIN, CountingDispatcher, admin, machine
from billing.config import Settings
from billing.db import unit_of_work
from billing.kit.clock import SystemClock
from billing.kit.ids import new_id
from billing.merchants.service import create_merchant
from billing.migrate import upgrade
from billing.models import (
    Customer,
    Invoice,
    PaymentAttempt,
    PaymentMethod,
    Plan,
    Subscription,
)
from billing.payments.gateway_registry import close_gateways, sandbox_gateway
from billing.payments.sweep import charge_due
from billing.runtime import Runtime, build_runtime


async def _runtime(url: str, latency: float) -> Runtime:
    settings = Settings(database_url=url, secret_key="bench", log_format="json")
    rt = await build_runtime(
        settings, dispatcher=CountingDispatcher(), clock=SystemClock(), start_queue=False
    )
    rt.extra["sandbox_latency"] = latency
    return rt


async def seed(url: str, n: int) -> str:
    """One merchant, n customers with a sandbox card each, n open invoices due now."""
    rt = await _runtime(url, 0.0)
    now = datetime.now(UTC)
    async with unit_of_work(rt.session_factory) as session:
        merchant, _ = await create_merchant(session, name="Bench", now=now)
    gateway = sandbox_gateway(rt.job_context)
    customers = [new_id("cus") for _ in range(n)]
    refs: dict[str, tuple[str, str]] = {}
    gate = asyncio.Semaphore(50)

    async def open_account(cid: str) -> None:
        async with gate:
            ref = await gateway.ensure_customer(
                merchant_id=merchant.id, customer_id=cid, email=f"{cid}@x.test", name="Bench"
            )
            info = await gateway.attach_payment_method(gateway_customer=ref, token="pm_card_visa")
            refs[cid] = (ref, info.gateway_ref)

    await asyncio.gather(*(open_account(c) for c in customers))
    await close_gateways(rt.job_context)
    plan_id = new_id("plan")
    rows_c, rows_pm, rows_s, rows_i = [], [], [], []
    for number, cid in enumerate(customers, start=1):
        pm_id, sub_id = new_id("pm"), new_id("sub")
        rows_c.append(
            dict(
                id=cid,
                merchant_id=merchant.id,
                email=f"{cid}@x.test",
                name="Bench",
                is_business=False,
                locale="pt-BR",
                metadata={},
                gateway_customer_ref=refs[cid][0],
                created_at=now,
            )
        )
        rows_pm.append(
            dict(
                id=pm_id,
                merchant_id=merchant.id,
                customer_id=cid,
                gateway_ref=refs[cid][1],
                type="card",
                brand="visa",
                last4="4242",
                is_default=True,
                created_at=now,
            )
        )
        rows_s.append(
            dict(
                id=sub_id,
                merchant_id=merchant.id,
                customer_id=cid,
                plan_id=plan_id,
                payment_method_id=pm_id,
                status="active",
                collection_method="charge_automatically",
                days_until_due=3,
                anchor_at=now,
                period_index=0,
                current_period_start=now,
                current_period_end=now + timedelta(days=30),
                cancel_at_period_end=False,
                cycles_billed=1,
                created_at=now,
            )
        )
        rows_i.append(
            dict(
                id=new_id("inv"),
                merchant_id=merchant.id,
                customer_id=cid,
                subscription_id=sub_id,
                number=number,
                status="open",
                collection_method="charge_automatically",
                currency="BRL",
                subtotal=4990,
                discount=0,
                late_fee=0,
                interest=0,
                total=4990,
                amount_paid=0,
                due_at=now,
                period_start=now,
                period_end=now + timedelta(days=30),
                attempt_count=0,
                next_payment_attempt=now - timedelta(seconds=1),
                created_at=now,
            )
        )
    async with unit_of_work(rt.session_factory) as session:
        await session.execute(
            insert(Plan).values(
                id=plan_id,
                merchant_id=merchant.id,
                name="Bench",
                amount=4990,
                currency="BRL",
                interval="month",
                interval_count=1,
                trial_days=0,
                active=True,
                metadata={},
                created_at=now,
            )
        )
        for table, rows in ((Customer, rows_c), (PaymentMethod, rows_pm)):
            await session.execute(insert(table), rows)
        await session.execute(insert(Subscription), rows_s)
        await session.execute(insert(Invoice), rows_i)
    await rt.close()
    return merchant.id


async def _memory_ledger(rt: Runtime) -> None:
    """Stand the sandbox's books in memory, as a remote gateway's are: its bookkeeping
    then costs latency only, not round trips to our database."""
    from billing.gateways.ledger import MemoryLedger
    from billing.models import SandboxEntry

    ledger = MemoryLedger()
    async with rt.session_factory() as session:
        for entry in await session.scalars(select(SandboxEntry)):
            if entry.value is not None:
                await ledger.put(entry.key, entry.value)
    sandbox_gateway(rt.job_context).ledger = ledger


async def sweep(url: str, latency: float, concurrency: int, ledger: str) -> dict[str, int]:
    rt = await _runtime(url, latency)
    if ledger == "memory":
        await _memory_ledger(rt)
    try:
        return await charge_due(rt.job_context, concurrency=concurrency)
    finally:
        await close_gateways(rt.job_context)
        await rt.close()


def _worker(url: str, latency: float, concurrency: int, ledger: str, out: Any) -> None:
    out.put(asyncio.run(sweep(url, latency, concurrency, ledger)))


async def verify(url: str, merchant_id: str) -> tuple[int, int, int]:
    rt = await _runtime(url, 0.0)
    async with rt.session_factory() as session:
        paid = await session.scalar(
            select(func.count()).where(Invoice.merchant_id == merchant_id, Invoice.status == "paid")
        )
        succeeded = await session.scalar(
            select(func.count()).where(
                PaymentAttempt.merchant_id == merchant_id, PaymentAttempt.status == "succeeded"
            )
        )
        doubles = await session.scalar(
            select(func.count()).select_from(
                select(PaymentAttempt.invoice_id)
                .where(
                    PaymentAttempt.merchant_id == merchant_id,
                    PaymentAttempt.status == "succeeded",
                )
                .group_by(PaymentAttempt.invoice_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
    await rt.close()
    return int(paid or 0), int(succeeded or 0), int(doubles or 0)


def run_once(
    url: str, n: int, latency: float, concurrency: int, workers: int, ledger: str
) -> dict[str, Any]:
    merchant_id = asyncio.run(seed(url, n))
    started = time.perf_counter()
    if workers == 1:
        counts = asyncio.run(sweep(url, latency, concurrency, ledger))
    else:
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(url, latency, concurrency, ledger, out))
            for _ in range(workers)
        ]
        for p in procs:
            p.start()
        counts = {}
        for _ in procs:
            for key, value in out.get().items():
                counts[key] = counts.get(key, 0) + value
        for p in procs:
            p.join()
    elapsed = time.perf_counter() - started
    paid, succeeded, doubles = asyncio.run(verify(url, merchant_id))
    return {
        "ledger": ledger,
        "concurrency": concurrency,
        "workers": workers,
        "elapsed_s": round(elapsed, 2),
        "charges_per_s": round(succeeded / elapsed, 1),
        "paid": paid,
        "succeeded": succeeded,
        "double_charges": doubles,
        "outcomes": counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.2, help="sandbox latency, seconds")
    parser.add_argument("--concurrency", default="200", help="one value or a comma list")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--ledger",
        choices=("db", "memory"),
        default="db",
        help="the sandbox's books: in our database (default) or in memory (a remote gateway)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    name = f"billing_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        upgrade(url)
        print(f"machine: {machine()}")
        print(f"n={args.n} latency={args.latency}s workers={args.workers} ledger={args.ledger}")
        for value in (int(v) for v in args.concurrency.split(",")):
            result = run_once(url, args.n, args.latency, value, args.workers, args.ledger)
            print(result, flush=True)
            assert result["double_charges"] == 0 and result["paid"] == args.n, result
    finally:
        if not args.keep:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
