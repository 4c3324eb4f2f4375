"""The production shape without Docker: `billing migrate`, `billing serve` and `billing worker`
as separate processes on PostgreSQL and Redis; a job enqueued by the API runs in the worker."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    PG_ADMIN_URL,
    create_pg_database,
    drop_pg_database,
    require_postgres,
    require_redis,
)
from tests.e2e.processes import base_env, free_port, process, run_cli, wait_ready

pytestmark = pytest.mark.slow


def test_api_enqueues_and_the_worker_runs(tmp_path: Path) -> None:
    require_postgres()
    require_redis()
    name = create_pg_database()
    # A Redis database of its own, so other runs on this server never see our jobs.
    redis_url = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    port = free_port()
    env = base_env(
        BILLING_DATABASE_URL=f"{PG_ADMIN_URL}/{name}",
        BILLING_REDIS_URL=redis_url,
        BILLING_SECRET_KEY="e2e-secret",
        BILLING_DATA_DIR=str(tmp_path / "data"),
        BILLING_LOG_FORMAT="json",
    )
    try:
        run_cli(env, "migrate")
        created = json.loads(run_cli(env, "merchant", "create", "--name", "Clínica Sorriso"))
        headers = {"Authorization": f"Bearer {created['api_key']}"}
        base = f"http://127.0.0.1:{port}"
        with process(env, "serve", "--port", str(port), log=tmp_path / "serve.log") as api:
            wait_ready(base, api, tmp_path / "serve.log")
            ready = httpx.get(f"{base}/readyz").json()
            assert ready["checks"] == {"database": "ok", "redis": "ok"}

            # Without a worker the job waits in Redis: the API did not run it itself.
            patched = httpx.patch(
                f"{base}/v1/merchant", headers=headers, json={"legal_name": "Clínica Sorriso LTDA"}
            )
            assert patched.status_code == 200
            event = httpx.get(f"{base}/v1/events", headers=headers).json()["data"][0]
            assert event["type"] == "merchant.updated"
            time.sleep(1.0)
            assert (
                httpx.get(f"{base}/v1/events/{event['id']}", headers=headers).json()["dispatched"]
                is False
            )

            with process(env, "worker", log=tmp_path / "worker.log") as worker:
                deadline = time.monotonic() + 30
                dispatched = False
                while time.monotonic() < deadline and not dispatched:
                    assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
                    got = httpx.get(f"{base}/v1/events/{event['id']}", headers=headers).json()
                    dispatched = got["dispatched"]
                    time.sleep(0.2)
                assert dispatched, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        drop_pg_database(name)
