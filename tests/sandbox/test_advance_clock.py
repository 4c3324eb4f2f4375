"""advance_clock drives a year of billing in one call, each installment at its own time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from tests.conftest import START, Database, MerchantAccount, app_client, make_runtime, new_merchant
from tests.subscriptions.helpers import get_sub, invoices_of, make_customer, make_plan, subscribe

from billing.kit.clock import SimulatedClock
from billing.runtime import Runtime


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
async def sim_runtime(fresh_database: Database) -> AsyncIterator[Runtime]:
    runtime = await make_runtime(fresh_database, SimulatedClock(START))
    yield runtime
    await runtime.close()


@pytest.fixture
async def sim_client(sim_runtime: Runtime) -> AsyncIterator[AsyncClient]:
    async with app_client(sim_runtime) as client:
        yield client


async def _card(
    client: AsyncClient, merchant: MerchantAccount, customer: dict[str, Any], token: str
) -> str:
    response = await client.post(
        f"/v1/customers/{customer['id']}/payment_methods",
        json={"token": token},
        headers=merchant.headers,
    )
    assert response.status_code == 201, response.text
    method_id: str = response.json()["id"]
    return method_id


async def test_a_year_of_monthly_billing_in_one_call(
    sim_runtime: Runtime, sim_client: AsyncClient
) -> None:
    client = sim_client
    merchant = await new_merchant(sim_runtime)
    plan = await make_plan(client, merchant, amount=4990)
    payer = await make_customer(client, merchant, "payer@example.com")
    boleto_payer = await make_customer(client, merchant, "boleto@example.com")
    await _card(client, merchant, payer, "pm_card_visa")
    card_sub = await subscribe(
        client, merchant, plan, payer, collection_method="charge_automatically"
    )
    assert card_sub["status"] == "active"
    boleto_sub = await subscribe(client, merchant, plan, boleto_payer)
    [first] = await invoices_of(client, merchant, card_sub["id"])
    assert first["status"] == "paid"

    to = START + timedelta(days=366)
    response = await client.post(
        "/v1/test_helpers/advance_clock", json={"to": to.isoformat()}, headers=merchant.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert ts(body["now"]) == to
    assert body["summary"]["invoices_created"] == 24  # 12 renewals x 2 subscriptions
    assert body["summary"]["charges_attempted"] == 12  # only the card is charged
    assert body["summary"]["charges_succeeded"] == 12

    card_invoices = await invoices_of(client, merchant, card_sub["id"])
    assert len(card_invoices) == 13
    assert {inv["status"] for inv in card_invoices} == {"paid"}
    for inv in card_invoices[1:]:
        # Each installment was created, and paid, at its own period start.
        assert ts(inv["paid_at"]) == ts(inv["period_start"])
    payments = (
        await client.get(
            "/v1/payments",
            params={"invoice_id": card_invoices[5]["id"]},
            headers=merchant.headers,
        )
    ).json()["data"]
    assert [ts(p["attempted_at"]) for p in payments] == [ts(card_invoices[5]["period_start"])]
    boleto_invoices = await invoices_of(client, merchant, boleto_sub["id"])
    assert len(boleto_invoices) == 13
    assert {inv["status"] for inv in boleto_invoices} == {"open"}
    assert ts(boleto_invoices[12]["period_start"]) == datetime(2027, 1, 15, 12, tzinfo=UTC)
    assert (await get_sub(client, merchant, card_sub["id"]))["cycles_billed"] == 13
    assert (
        ts((await client.get("/v1/merchant", headers=merchant.headers)).json()["created_at"])
        == START
    )


async def test_the_clock_only_moves_forward(sim_runtime: Runtime, sim_client: AsyncClient) -> None:
    merchant = await new_merchant(sim_runtime)
    past = (START - timedelta(days=1)).isoformat()
    response = await sim_client.post(
        "/v1/test_helpers/advance_clock", json={"to": past}, headers=merchant.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "to"


async def test_advance_clock_is_404_without_the_simulated_clock(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    response = await client.post(
        "/v1/test_helpers/advance_clock",
        json={"to": "2027-01-01T00:00:00Z"},
        headers=merchant.headers,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_sweeps_run_in_one_order_whatever_was_imported_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At one instant the sandbox runs the ruler's sweeps before the charging sweep (a
    message due with a retry waits for the retry's outcome). That order must not follow
    the order in which modules happened to be imported (a test importing payments first
    once made the year of collections send a message 15 minutes early)."""
    from billing import jobs

    jobs.load_tasks()
    canonical = [p.name for p in jobs.periodic_sweeps()]
    shuffled = dict(reversed(list(jobs.PERIODIC.items())))
    monkeypatch.setattr(jobs, "PERIODIC", shuffled)
    assert [p.name for p in jobs.periodic_sweeps()] == canonical
    modules = [p.func.__module__ for p in jobs.periodic_sweeps()]
    assert modules == sorted(modules, key=jobs.TASK_MODULES.index)
    assert canonical.index("collection.deliver_due") < canonical.index("payments.charge_due")
