"""The overview page reads everything in one statement: what it shows must still be exactly
the payer's own, and only while the session lives."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiosqlite
import pytest
from httpx import AsyncClient
from sqlalchemy import event

from billing.kit.clock import FixedClock
from billing.runtime import Runtime
from tests.portal.portal_world import build_world, days_later, open_portal


async def _second_payer_of(client: AsyncClient, headers: dict[str, str], plan_id: str) -> str:
    """Another customer of the same merchant, with an overdue installment of their own."""
    cus = await client.post(
        "/v1/customers", json={"email": "joao@example.com", "name": "João Lima"}, headers=headers
    )
    cid = cus.json()["id"]
    await client.post(
        f"/v1/customers/{cid}/payment_methods",
        json={"token": "pm_card_chargeDeclined"},
        headers=headers,
    )
    sub = await client.post(
        "/v1/subscriptions", json={"customer_id": cid, "plan_id": plan_id}, headers=headers
    )
    assert sub.status_code == 201, sub.text
    listed = await client.get(f"/v1/invoices?customer_id={cid}", headers=headers)
    return str(listed.json()["data"][0]["id"])


async def test_overview_shows_only_the_payers_own_rows(
    client: AsyncClient, runtime: Runtime
) -> None:
    mine = await build_world(client, runtime, email="a@example.com")
    neighbour_invoice = await _second_payer_of(client, mine.merchant.headers, mine.plan_id)
    elsewhere = await build_world(client, runtime, email="b@example.com")
    days_later(runtime, 10)  # every installment is overdue, each listed with its id
    await open_portal(client, mine)

    page = await client.get("/portal/")

    assert page.status_code == 200
    assert f'data-invoice="{mine.invoice_id}"' in page.text
    assert f'data-subscription="{mine.subscription_id}"' in page.text
    assert page.text.count("data-invoice=") == 1 and page.text.count("data-subscription=") == 1
    for other in (neighbour_invoice, elsewhere.invoice_id, elsewhere.subscription_id):
        assert other not in page.text
    assert "Maria" in page.text and "João" not in page.text


async def test_overview_refused_once_the_session_expires(
    client: AsyncClient, runtime: Runtime
) -> None:
    world = await build_world(client, runtime)
    await open_portal(client, world)
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    opened = clock.now()

    clock.set(opened + timedelta(hours=1, minutes=59))
    assert (await client.get("/portal/")).status_code == 200
    clock.set(opened + timedelta(hours=2, minutes=1))
    expired = await client.get("/portal/")
    assert expired.status_code == 401
    assert world.invoice_id not in expired.text
    assert (await client.get("/portal/invoices")).status_code == 401


async def test_overview_is_one_round_trip(
    client: AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session, payer, subscriptions and installments in one statement, and nothing else
    (no BEGIN: a single statement reads one consistent snapshot on its own), as the
    database driver sees it. On SQLite, where every driver call is a hop to the
    connection's thread, that statement is one hop, and returning the connection (its
    rollback) the only other."""
    world = await build_world(client, runtime)
    await open_portal(client, world)
    queries: list[str] = []
    hops: list[str] = []

    def logged(record: Any) -> None:
        queries.append(record.query.split()[0].upper())

    def watch(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        if hasattr(driver, "add_query_logger"):  # asyncpg
            driver.add_query_logger(logged)

    real_hop = aiosqlite.Connection._execute

    async def hop(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await real_hop(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", hop)
    engine = runtime.engine.sync_engine
    event.listen(engine, "checkout", watch)
    try:
        page = await client.get("/portal/")
        await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon after
    finally:
        event.remove(engine, "checkout", watch)
    assert page.status_code == 200 and world.invoice_id in page.text
    if runtime.engine.dialect.name == "postgresql":
        assert queries == ["SELECT"]
    else:
        assert hops == ["_execute_fetchall", "rollback"]


async def test_one_hop_rows_read_like_sqlalchemys(client: AsyncClient, runtime: Runtime) -> None:
    """The one-hop read converts every value as SQLAlchemy would: aware datetimes,
    booleans, JSON as dicts, integers; on both databases, row for row."""
    from sqlalchemy import select

    from billing.kit.one_hop_read import OneHopRead
    from billing.models import PortalSession
    from billing.portal.overview import _STATEMENT

    world = await build_world(client, runtime)
    await client.patch(
        "/v1/merchant", json={"address": {"city": "São Paulo"}}, headers=world.merchant.headers
    )
    days_later(runtime, 10)
    await open_portal(client, world)
    async with runtime.engine.connect() as conn:
        hashed = (
            await conn.execute(
                select(PortalSession.session_hash).where(PortalSession.session_hash.is_not(None))
            )
        ).scalar_one()
        params = {"session_hash": hashed, "now": runtime.clock.now()}
        expected = [tuple(r) for r in (await conn.execute(_STATEMENT, params)).all()]
    async with runtime.engine.connect() as conn:
        got = [tuple(r) for r in await OneHopRead(_STATEMENT).rows(conn, params)]
    assert [r[0] for r in got] == ["payer", "subscription", "installment"]
    assert got == expected
    for mine, theirs in zip(got, expected, strict=True):
        assert [type(v) for v in mine] == [type(v) for v in theirs]
    assert any(isinstance(v, dict) and v.get("city") == "São Paulo" for v in got[0])
    assert all(v.tzinfo is not None for r in got for v in r if hasattr(v, "tzinfo"))
