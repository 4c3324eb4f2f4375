"""The connection pool as an operator sees it: a bounded number of connections per process,
requests served in arrival order when they are all busy, and a connection the server closed
replaced instead of failing a request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text

from billing.config import Settings
from billing.db import make_engine
from billing.runtime import Runtime
from tests.conftest import (
    PG_ADMIN_URL,
    Database,
    _pg_admin,
    app_client,
    make_runtime,
    require_postgres,
)
from tests.portal.portal_world import build_world, open_portal


async def test_a_connection_the_server_closed_is_replaced() -> None:
    """(PostgreSQL: only a server can close a connection under us.)"""
    require_postgres()
    url = PG_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://") + "/postgres"
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            first = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # An administrator (or a server restart) ends the pooled connection's backend.
        await _pg_admin(f"SELECT pg_terminate_backend({first})")
        await asyncio.sleep(0.2)  # the event loop reads the server's goodbye
        async with engine.connect() as conn:
            second = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second != first
    finally:
        await engine.dispose()


async def test_requests_beyond_the_pool_wait_their_turn(database: Database, clock: Any) -> None:
    """Thirty payers at once on a pool of two: every page is served, no more than two
    connections are ever in use and none is opened beyond them."""
    runtime: Runtime = await make_runtime(database, clock, db_pool_size=2)
    in_use = 0
    most = 0
    opened = 0

    def checkout(*_: Any) -> None:
        nonlocal in_use, most
        in_use += 1
        most = max(most, in_use)

    def checkin(*_: Any) -> None:
        nonlocal in_use
        in_use -= 1

    def connect(*_: Any) -> None:
        nonlocal opened
        opened += 1

    try:
        async with app_client(runtime) as client:
            world = await build_world(client, runtime)
            await open_portal(client, world)
            pool = runtime.engine.sync_engine
            event.listen(pool, "checkout", checkout)
            event.listen(pool, "checkin", checkin)
            event.listen(pool, "connect", connect)
            pages = await asyncio.gather(*(client.get("/portal/") for _ in range(30)))
        assert [p.status_code for p in pages] == [200] * 30
        assert all(world.invoice_id in p.text for p in pages)
        assert most <= 2
        assert opened <= 2  # at most the pool's own two
    finally:
        await runtime.close()


def test_pool_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_DB_POOL_SIZE", "7")
    assert Settings.from_env().db_pool_size == 7
    monkeypatch.setenv("BILLING_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="BILLING_DB_POOL_SIZE"):
        Settings.from_env()
    monkeypatch.setenv("BILLING_DB_POOL_SIZE", "lots")
    with pytest.raises(ValueError, match="BILLING_DB_POOL_SIZE"):
        Settings.from_env()


async def test_writes_waiting_on_a_slow_gateway_do_not_hold_up_pages(
    database: Database, clock: Any
) -> None:
    """Four card attachments stuck on a slow gateway, on a pool of two: the payer's page
    is still served first (writes do not take the reading slots)."""
    runtime: Runtime = await make_runtime(database, clock, db_pool_size=2)
    try:
        async with app_client(runtime) as client:
            world = await build_world(client, runtime)
            await open_portal(client, world)
            runtime.extra["sandbox_latency"] = 1.0  # every gateway call from now on
            finished: list[str] = []

            async def attach() -> None:
                answer = await client.post(
                    f"/v1/customers/{world.customer_id}/payment_methods",
                    json={"token": "pm_card_visa"},
                    headers=world.merchant.headers,
                )
                assert answer.status_code == 201, answer.text
                finished.append("attach")

            async def page() -> None:
                await asyncio.sleep(0.1)  # the attachments are all waiting by now
                answer = await client.get("/portal/")
                assert answer.status_code == 200
                finished.append("page")

            await asyncio.gather(*(attach() for _ in range(4)), page())
        assert finished[0] == "page" and finished.count("attach") == 4
    finally:
        await runtime.close()
