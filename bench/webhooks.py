"""Incoming gateway webhooks: signed Stripe events over HTTP to one API process, then applied.

    .venv/bin/python bench/webhooks.py --n 20000 --concurrency 64 --workers 2

Creates its own PostgreSQL database (dropped at the end unless --keep), migrated with
Alembic; seeds one merchant (Stripe provider, webhook secret encrypted) with N open
installments, each with a payment attempt left ``processing``, then ANALYZEs it (the
statistics autovacuum keeps in a live database). Then:

1. accepted: one API process (uvicorn, ``billing.app:app_factory``, jobs to Redis db
   ``--redis-db`` so no processing competes with the API) receives N signed
   ``payment_intent.succeeded`` events plus ``--duplicates`` redeliveries, posted over HTTP
   (aiohttp by default; ``--client httpx`` is available but its connection pool, not the
   server, is the limit on this machine) from ``--client-procs`` processes at
   ``--concurrency`` requests in flight. Each request is verified (HMAC, 300 s tolerance),
   stored in the inbox once (ON CONFLICT, group commit) and committed before its 200.
   Reported: events/s accepted and the p50/p99 ack latency (``--timeline``: per 0.5 s;
   ``--profile FILE``: py-spy samples of the API as collapsed stacks).
2. applied: ``--workers`` processes, started before the clock starts as a long-running
   worker would be, run the inbox sweep (batches of 500, SKIP LOCKED), each event the full
   path: attempt succeeded, invoice settled, ``invoice.paid`` recorded.
   Reported: events/s applied.

``--readme`` adds the result to this benchmark's table in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import func, insert, select  # noqa: E402

from benchkit import PG_ADMIN, CountingDispatcher, admin, machine  # noqa: E402
from billing.config import Settings  # noqa: E402
from billing.db import unit_of_work  # noqa: E402
from billing.gateways.stripe_mapping import ATTEMPT_KEY  # noqa: E402
from billing.gateways.webhook import sign_header  # noqa: E402
from billing.kit.clock import SystemClock  # noqa: E402
from billing.kit.ids import new_id  # noqa: E402
from billing.merchants.service import create_merchant  # noqa: E402
from billing.migrate import upgrade  # noqa: E402
from billing.models import (  # noqa: E402
    Customer,
    GatewayEvent,
    Invoice,
    MerchantSettings,
    PaymentAttempt,
)
from billing.runtime import Runtime, build_runtime  # noqa: E402
from billing.webhooks.processing import process_due  # noqa: E402

SECRET_KEY = "bench-webhooks-secret-key"
WEBHOOK_SECRET = "whsec_bench_webhooks"


def _settings(url: str) -> Settings:
    return Settings(database_url=url, secret_key=SECRET_KEY, log_format="json")


async def _runtime(url: str) -> Runtime:
    return await build_runtime(
        _settings(url), dispatcher=CountingDispatcher(), clock=SystemClock(), start_queue=False
    )


async def seed(url: str, n: int) -> tuple[str, list[str]]:
    """One merchant on Stripe, n customers each with an open invoice and a pending attempt."""
    rt = await _runtime(url)
    now = datetime.now(UTC)
    async with unit_of_work(rt.session_factory) as session:
        merchant, _ = await create_merchant(session, name="Bench webhooks", now=now)
        session.add(
            MerchantSettings(
                merchant_id=merchant.id,
                gateway={
                    "provider": "stripe",
                    "secret_key": rt.secret_box.encrypt("sk_test_bench"),
                    "webhook_secret": rt.secret_box.encrypt(WEBHOOK_SECRET),
                },
            )
        )
    keys: list[str] = []
    chunk = 2000
    for start in range(0, n, chunk):
        customers, invoices, attempts = [], [], []
        for i in range(start, min(n, start + chunk)):
            cid, iid, pid = new_id("cus"), new_id("inv"), new_id("pay")
            key = f"billing:charge:{iid}:1"
            keys.append(key)
            customers.append(
                dict(
                    id=cid,
                    merchant_id=merchant.id,
                    email=f"{cid}@x.test",
                    name="Bench",
                    is_business=False,
                    locale="pt-BR",
                    metadata={},
                    gateway_customer_ref=f"cus_{i}",
                    created_at=now,
                )
            )
            invoices.append(
                dict(
                    id=iid,
                    merchant_id=merchant.id,
                    customer_id=cid,
                    number=i + 1,
                    status="open",
                    collection_method="send_invoice",
                    currency="BRL",
                    subtotal=4990,
                    discount=0,
                    late_fee=0,
                    interest=0,
                    total=4990,
                    amount_paid=0,
                    due_at=now,
                    attempt_count=0,
                    created_at=now,
                )
            )
            attempts.append(
                dict(
                    id=pid,
                    merchant_id=merchant.id,
                    invoice_id=iid,
                    customer_id=cid,
                    attempt_number=1,
                    initiated_by="automatic",
                    amount=4990,
                    currency="BRL",
                    status="processing",
                    idempotency_key=key,
                    gateway_ref=f"pi_bench_{i}",
                    attempted_at=now,
                )
            )
        async with unit_of_work(rt.session_factory) as session:
            await session.execute(insert(Customer), customers)
            await session.execute(insert(Invoice), invoices)
            await session.execute(insert(PaymentAttempt), attempts)
    async with rt.engine.connect() as conn:
        # Statistics as autovacuum keeps them in a live database: without them PostgreSQL
        # plans the freshly seeded tables as if they were empty.
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("ANALYZE")
    await rt.close()
    return merchant.id, keys


def _event(i: int, key: str) -> bytes:
    return json.dumps(
        {
            "id": f"evt_bench_{i}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": f"pi_bench_{i}",
                    "object": "payment_intent",
                    "amount": 4990,
                    "currency": "brl",
                    "status": "succeeded",
                    "metadata": {ATTEMPT_KEY: key},
                }
            },
        }
    ).encode()


def _client_proc(args: tuple[str, list[bytes], int, Any, str]) -> dict[str, Any]:
    url, bodies, concurrency, barrier, library = args
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    duplicates = 0
    queue = list(reversed(bodies))
    began: list[float] = []
    sent_at: list[float] = []

    def headers_for(body: bytes) -> dict[str, str]:
        return {
            "Stripe-Signature": sign_header(body, WEBHOOK_SECRET, int(time.time())),
            "Content-Type": "application/json",
        }

    def note(status: int, answer: bytes, started: float) -> None:
        nonlocal duplicates
        latencies.append(time.perf_counter() - started)
        sent_at.append(started)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200 and b'"duplicate":true' in answer:
            duplicates += 1

    async def with_httpx() -> None:
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:

            async def worker() -> None:
                while queue:
                    body = queue.pop()
                    t0 = time.perf_counter()
                    response = await client.post(url, content=body, headers=headers_for(body))
                    note(response.status_code, response.content, t0)

            barrier.wait()
            began.append(time.time())
            await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def with_aiohttp() -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as client:

            async def worker() -> None:
                while queue:
                    body = queue.pop()
                    t0 = time.perf_counter()
                    async with client.post(url, data=body, headers=headers_for(body)) as response:
                        note(response.status, await response.read(), t0)

            barrier.wait()
            began.append(time.time())
            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(with_httpx() if library == "httpx" else with_aiohttp())
    return {
        "latencies": latencies,
        # perf_counter of each send, for --timeline (when the slow answers happened)
        "sent_at": sent_at,
        "statuses": statuses,
        "duplicates": duplicates,
        "started": began[0],
        "ended": time.time(),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_api(
    url: str, redis_db: int, profile: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": url,
        "BILLING_SECRET_KEY": SECRET_KEY,
        "BILLING_REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "BILLING_LOG_FORMAT": "json",
        "BILLING_DATA_DIR": f"/tmp/billing-bench-webhooks-{port}",
    }
    # --profile: py-spy samples the API (collapsed stacks, for flamegraph.pl or grep).
    spy_bin = str(Path(sys.executable).with_name("py-spy"))
    spy = [spy_bin, "record", "-r", "250", "-f", "raw", "-o", profile, "--"] if profile else []
    proc = subprocess.Popen(
        [
            *spy,
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "billing.app:app_factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(f"/tmp/billing-bench-webhooks-{port}.log", "wb"),  # noqa: SIM115
    )
    import httpx

    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the API did not start")


def _apply_proc(args: tuple[str, Any]) -> tuple[int, float, float]:
    """A worker: starts (imports, runtime, pool) before the barrier, so the clock times only
    the applying, as for a long-running arq worker."""
    url, barrier = args

    async def run() -> tuple[int, float, float]:
        rt = await _runtime(url)
        ctx = rt.job_context
        async with rt.session_factory() as session:  # a warm connection, like a live worker
            await session.execute(select(1))
        gc.freeze()  # as the arq worker does after start-up (billing/worker.py)
        barrier.wait()
        started = time.time()
        total = 0
        while True:
            handled = await process_due(ctx, limit=500)
            total += handled
            if handled == 0:
                break
        ended = time.time()
        await rt.close()
        return total, started, ended

    return asyncio.run(run())


async def counts(url: str, merchant_id: str) -> dict[str, int]:
    rt = await _runtime(url)
    async with rt.session_factory() as session:
        rows = (
            await session.execute(
                select(GatewayEvent.status, func.count())
                .where(GatewayEvent.merchant_id == merchant_id)
                .group_by(GatewayEvent.status)
            )
        ).all()
        paid = await session.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.status == "paid")
        )
    await rt.close()
    out = {str(s): int(c) for s, c in rows}
    out["invoices_paid"] = int(paid or 0)
    return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else 0.0


async def pg_version() -> str:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN + "/postgres")
    try:
        version = str(await conn.fetchval("SELECT version()"))
    finally:
        await conn.close()
    return version.split(" on ")[0]


def _flush_redis(db: int) -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()


def _print_timeline(results: list[dict[str, Any]]) -> None:
    """p50/p99/max per 0.5 s of the run: a warm-up spike and periodic stalls look different."""
    pairs = sorted(
        (t, lat) for r in results for t, lat in zip(r["sent_at"], r["latencies"], strict=True)
    )
    if not pairs:
        return
    origin = pairs[0][0]
    buckets: dict[int, list[float]] = {}
    for t, lat in pairs:
        buckets.setdefault(int((t - origin) / 0.5), []).append(lat)
    for b, lats in sorted(buckets.items()):
        print(
            f"  t={b * 0.5:5.1f}s n={len(lats):5d} p50 {_pct(lats, 0.5) * 1000:6.1f} ms "
            f"p99 {_pct(lats, 0.99) * 1000:6.1f} ms max {max(lats) * 1000:6.1f} ms"
        )


def _add_readme_row(row: str) -> None:
    """After the last row of this benchmark's table (its section is not the file's last)."""
    path = ROOT / "bench" / "README.md"
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## webhooks.py"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    last_row = max(i for i in range(start, end) if lines[i].startswith("| 20"))
    lines.insert(last_row + 1, row)
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--duplicates", type=float, default=0.1, help="share redelivered")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--client",
        choices=("aiohttp", "httpx"),
        default="aiohttp",
        help="load generator; httpx's pool tops out near 250 req/s here even on a bare ASGI app",
    )
    parser.add_argument("--redis-db", type=int, default=11, help="a Redis db of its own")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--timeline", action="store_true", help="latency per 0.5 s")
    parser.add_argument("--profile", help="py-spy the API process into this file (raw stacks)")
    parser.add_argument("--readme", action="store_true", help="add the result to README")
    parser.add_argument("--label", default="after", help="the README row's code column")
    args = parser.parse_args()

    name = f"billing_bench_webhooks_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"{PG_ADMIN.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    api = None
    try:
        upgrade(url)
        t0 = time.perf_counter()
        merchant_id, keys = asyncio.run(seed(url, args.n))
        print(f"seeded {args.n} installments in {time.perf_counter() - t0:.1f} s")
        bodies = [_event(i, k) for i, k in enumerate(keys)]
        extra = random.sample(bodies, int(len(bodies) * args.duplicates))
        everything = bodies + extra
        random.shuffle(everything)
        _flush_redis(args.redis_db)
        api, base = start_api(url, args.redis_db, args.profile)
        endpoint = f"{base}/webhooks/stripe/{merchant_id}"
        procs = max(1, args.client_procs)
        share = [everything[i::procs] for i in range(procs)]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager:
            barrier = manager.Barrier(procs)
            with ctx.Pool(procs) as pool:
                jobs: list[tuple[str, list[bytes], int, Any, str]] = [
                    (endpoint, part, max(1, args.concurrency // procs), barrier, args.client)
                    for part in share
                ]
                results = pool.map(_client_proc, jobs)
        latencies = [x for r in results for x in r["latencies"]]
        statuses: dict[int, int] = {}
        for r in results:
            for code, n in r["statuses"].items():
                statuses[code] = statuses.get(code, 0) + n
        wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
        accepted_rate = len(everything) / wall
        # SIGINT: py-spy (with --profile) writes its samples, uvicorn shuts down cleanly.
        api.send_signal(signal.SIGINT)
        api.wait(timeout=60)
        api = None
        stored = asyncio.run(counts(url, merchant_id))
        print(
            f"accepted: {len(everything)} requests ({len(extra)} redeliveries) in {wall:.2f} s "
            f"= {accepted_rate:,.0f} events/s; statuses {statuses}; "
            f"p50 {_pct(latencies, 0.5) * 1000:.1f} ms, p99 {_pct(latencies, 0.99) * 1000:.1f} ms; "
            f"inbox rows {sum(v for k, v in stored.items() if k != 'invoices_paid')}"
        )

        with ctx.Manager() as manager:
            barrier = manager.Barrier(args.workers)
            with ctx.Pool(args.workers) as pool:
                done = pool.map(_apply_proc, [(url, barrier)] * args.workers)
        applied = sum(n for n, _, _ in done)
        apply_wall = max(e for _, _, e in done) - min(s for _, s, _ in done)
        after = asyncio.run(counts(url, merchant_id))
        apply_rate = applied / apply_wall
        print(
            f"applied: {applied} events by {args.workers} workers in {apply_wall:.2f} s "
            f"= {apply_rate:,.0f} events/s; {after}"
        )
        if args.timeline:
            _print_timeline(results)
        if args.readme:
            row = (
                f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {args.label} "
                f"| {args.n:,} + {len(extra):,} dup "
                f"| {args.concurrency} | **{accepted_rate:,.0f}/s** "
                f"| {_pct(latencies, 0.5) * 1000:.1f} ms "
                f"| **{_pct(latencies, 0.99) * 1000:.1f} ms** "
                f"| {args.workers} | **{apply_rate:,.0f}/s** | {machine()}; "
                f"{asyncio.run(pg_version())} |"
            )
            _add_readme_row(row)
    finally:
        if api is not None:
            api.kill()
        _flush_redis(args.redis_db)
        if not args.keep:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
