"""The overview page reads everything in one statement: what it shows must still be exactly
the payer's own, and only while the session lives."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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


async def test_overview_is_one_round_trip(client: AsyncClient, runtime: Runtime) -> None:
    """Session, payer, subscriptions and installments in one statement, and nothing else
    (no BEGIN: a single statement reads one consistent snapshot on its own)."""
    world = await build_world(client, runtime)
    await open_portal(client, world)
    assert (await client.get("/portal/")).status_code == 200  # the late-fee policy is cached
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.split()[0].upper())

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = await client.get("/portal/")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert page.status_code == 200 and world.invoice_id in page.text
    assert statements == ["SELECT"]
