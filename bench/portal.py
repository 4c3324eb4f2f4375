"""The portal's overview page under 100 concurrent payer sessions.

    .venv/bin/python bench/portal.py --backend sqlite --sessions 100 --seconds 15
    .venv/bin/python bench/portal.py --backend postgres --workers 2

Starts the real server (uvicorn, the app factory) on a free port with a database of its own
(SQLite file or a fresh PostgreSQL database, migrated with Alembic), seeds N payers through
the merchant API (half with an overdue installment, so the page shows late fee and
interest), opens one portal session per payer (each client keeps its own cookie jar) and
requests ``GET /portal/``:

- closed loop (default): N clients, each sending its next request when the last answered;
- open loop (``--rate R``): requests start at a fixed R per second whatever the server does,
  spread over the N sessions, so queueing shows up in the latency instead of slowing the
  arrivals (latency is measured from the scheduled start).

The load generator is aiohttp (httpx's pool tops out near 250 requests/s on this machine,
below what the server can do), or with ``--generator wrk`` Debian's ``wrk`` (C, a few per
cent of a CPU at these rates, so the server keeps more of the machine): closed loop, one
connection per session, each request carrying one of the sessions' cookies in turn, and
any answer but 200 counted as an error. Either runs on the same machine and shares its
CPUs. The server is uvicorn with uvloop and httptools, without the access log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from benchkit import PG_ADMIN, admin, machine

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database(backend: str, tmp: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'portal-bench.sqlite3'}", lambda: None
    name = f"billing_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"{PG_ADMIN}/{name}"
    return url, lambda: asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def seed(base: str, headers: dict[str, str], n: int) -> list[str]:
    """N payers with a subscription each; every other one's card is declined (overdue)."""
    links = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as api:
        plan = api.post(
            "/v1/plans",
            json={"name": "Mensal", "amount": 9990, "currency": "BRL", "interval": "month"},
        ).json()
        for i in range(n):
            cus = api.post(
                "/v1/customers", json={"email": f"payer{i}@example.com", "name": f"Payer {i}"}
            ).json()
            card = "pm_card_visa" if i % 2 else "pm_card_chargeDeclined"
            api.post(f"/v1/customers/{cus['id']}/payment_methods", json={"token": card})
            api.post("/v1/subscriptions", json={"customer_id": cus["id"], "plan_id": plan["id"]})
            links.append(api.post("/v1/portal_sessions", json={"customer_id": cus["id"]}).json())
    return [link["url"] for link in links]


async def enter(http: aiohttp.ClientSession, base: str, url: str) -> None:
    """Open the session link like a payer: the "Continue" page, then its POST."""
    async with http.get(url) as page:
        html = await page.text()
        assert page.status == 200, html
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    csrf = html[start : html.index('"', start)]
    async with http.post(url, data={"csrf_token": csrf}, allow_redirects=False) as entered:
        assert entered.status == 303, await entered.text()


def summary(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / seconds,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
    }


async def load(
    base: str, links: list[str], seconds: float, warmup: float, rate: float | None
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    sessions = []
    for url in links:
        # One connection per payer, its own cookies: 100 browsers, not one shared pool.
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1),
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for a bare IP host
            timeout=aiohttp.ClientTimeout(total=30),
        )
        await enter(http, base, url)
        sessions.append(http)
    overview = f"{base}/portal/"

    async def one(http: aiohttp.ClientSession, started: float, measure_from: float) -> None:
        nonlocal errors
        try:
            async with http.get(overview) as response:
                await response.read()
                ok = response.status == 200
        except aiohttp.ClientError:
            ok = False
        done = time.perf_counter()
        if started >= measure_from:
            if ok:
                latencies.append(done - started)
            else:
                errors += 1

    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + seconds
    if rate is None:

        async def closed(http: aiohttp.ClientSession) -> None:
            while (now := time.perf_counter()) < stop:
                await one(http, now, measure_from)

        await asyncio.gather(*(closed(h) for h in sessions))
    else:
        # Open loop: request i is due at start + i / rate, on session i mod N (aiohttp
        # queues it on that session's connection if the previous one is still running).
        tasks = []
        i = 0
        while (due := start + i / rate) < stop:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(sessions[i % len(sessions)], due, measure_from)))
            i += 1
        await asyncio.gather(*tasks)
    for http in sessions:
        await http.close()
    return summary(latencies, errors, seconds)


WRK_SCRIPT = """
cookies = {%s}
local i = 0
bad = 0
request = function()
  i = i + 1
  return wrk.format("GET", nil, {["Cookie"] = cookies[(i %% #cookies) + 1]})
end
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  for _, t in ipairs(threads) do errors = errors + t:get("bad") end
  io.write(string.format("RESULT %%d %%d %%d %%.3f %%.3f %%.3f %%.3f %%.3f\\n",
    summary.requests, errors, summary.duration, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    latency.mean / 1000))
end
"""


async def session_cookies(base: str, links: list[str]) -> list[str]:
    """Each payer's session cookie, got by opening the link as a browser would."""
    cookies = []
    for url in links:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await enter(http, base, url)
            cookies.append("; ".join(f"{c.key}={c.value}" for c in http.cookie_jar))
    return cookies


def wrk_load(
    base: str, cookies: list[str], seconds: float, warmup: float, tmp: Path
) -> dict[str, float]:
    script = tmp / "portal.lua"
    script.write_text(WRK_SCRIPT % ", ".join(json.dumps(c) for c in cookies))
    command = ["wrk", "-t2", f"-c{len(cookies)}", "-s", str(script), f"{base}/portal/"]
    subprocess.run([*command[:-1], "-d", f"{warmup:g}s", command[-1]], check=True,
                   capture_output=True)  # fmt: skip
    out = subprocess.run(
        [*command[:-1], "-d", f"{seconds:g}s", "--timeout", "30s", command[-1]],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    requests, errors, duration_us, p50, p95, p99, top, mean = line.split()[1:]
    elapsed = int(duration_us) / 1e6
    return {
        "requests": int(requests) - int(errors),
        "errors": int(errors),
        "rps": (int(requests) - int(errors)) / elapsed,
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(top),
        "mean_ms": float(mean),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--rate", type=float, default=None, help="open loop: requests started per second"
    )
    parser.add_argument("--generator", choices=("aiohttp", "wrk"), default="aiohttp")
    parser.add_argument(
        "--pool-size", type=int, default=None, help="BILLING_DB_POOL_SIZE of each server process"
    )
    args = parser.parse_args()
    if args.generator == "wrk" and args.rate:
        parser.error("wrk runs a closed loop; --rate needs the aiohttp generator")

    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    url, drop = database(args.backend, tmp)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    env.update(
        BILLING_DATABASE_URL=url,
        BILLING_SECRET_KEY="portal-bench",
        BILLING_DATA_DIR=str(tmp / "data"),
        BILLING_BASE_URL=base,
        BILLING_LOG_FORMAT="json",
    )
    if args.pool_size:
        env["BILLING_DB_POOL_SIZE"] = str(args.pool_size)
    server = None
    try:
        subprocess.run([BIN / "billing", "migrate"], env=env, check=True, capture_output=True)
        created = json.loads(
            subprocess.run(
                [BIN / "billing", "merchant", "create", "--name", "Bench"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        log = (tmp / "server.log").open("wb")
        server = subprocess.Popen(
            [
                BIN / "uvicorn",
                "--factory",
                "billing.app:app_factory",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {created['api_key']}"}
        links = seed(base, headers, args.sessions)
        if args.generator == "wrk":
            cookies = asyncio.run(session_cookies(base, links))
            result = wrk_load(base, cookies, args.seconds, args.warmup, tmp)
        else:
            result = asyncio.run(load(base, links, args.seconds, args.warmup, args.rate))
        print(
            json.dumps(
                {
                    "backend": args.backend,
                    "sessions": args.sessions,
                    "workers": args.workers,
                    "pool_size": args.pool_size or "default",
                    "mode": f"open loop, {args.rate:g}/s" if args.rate else "closed loop",
                    "generator": args.generator,
                    **result,
                    "machine": machine(),
                },
                indent=1,
            )
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        drop()


if __name__ == "__main__":
    main()
