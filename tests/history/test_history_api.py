"""GET /v1/customers/{id}/history: every kind of entry, newest first, merchant-scoped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from tests.conftest import MerchantAccount, new_merchant
from tests.dunning.dunning_seed import add_attempt, seed_installment

from billing.db import unit_of_work
from billing.dunning.tasks import plan_retries
from billing.kit.clock import FixedClock
from billing.runtime import Runtime

T0 = datetime(2026, 4, 6, 13, 0, tzinfo=UTC)


async def test_history_lists_everything_newest_first(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(T0)
    async with unit_of_work(runtime.session_factory) as session:
        inst = await seed_installment(session, merchant.id, due_at=T0, now=T0)
    clock.set(T0 + timedelta(hours=1))
    async with unit_of_work(runtime.session_factory) as session:
        await add_attempt(session, inst, number=1, at=clock.now(), decline_code="lost_card",
                          decline_type="hard")  # fmt: skip
    clock.set(T0 + timedelta(hours=2))
    await plan_retries(runtime.job_context)
    h = merchant.headers
    clock.set(T0 + timedelta(hours=3))
    note = await client.post(
        f"/v1/customers/{inst.customer_id}/notes",
        json={"body": "Cliente ligou: vai cadastrar novo cartão."},
        headers=h,
    )
    assert note.status_code == 201, note.text
    clock.set(T0 + timedelta(hours=4))
    promise = await client.post(
        f"/v1/customers/{inst.customer_id}/promises",
        json={"amount": 10000, "date": "2026-04-10"},
        headers=h,
    )
    assert promise.status_code == 201, promise.text
    assert promise.json()["status"] == "pending"

    response = await client.get(f"/v1/customers/{inst.customer_id}/history", headers=h)
    assert response.status_code == 200, response.text
    entries = response.json()["data"]
    assert [e["type"] for e in entries] == [
        "promise", "note", "dunning", "payment_attempt", "invoice",
    ]  # fmt: skip
    times = [e["occurred_at"] for e in entries]
    assert times == sorted(times, reverse=True)
    attempt = entries[3]
    assert attempt["decline_type"] == "hard"
    assert attempt["decline_code"] == "lost_card"
    assert "não autorizou" in attempt["decline_reason"]  # plain language, pt-BR payer
    assert entries[2]["status"] == "awaiting_payer"
    assert entries[1]["body"].startswith("Cliente ligou")
    # Pagination with the usual cursor.
    page = await client.get(f"/v1/customers/{inst.customer_id}/history?limit=2", headers=h)
    assert page.json()["has_more"] is True
    rest = await client.get(
        f"/v1/customers/{inst.customer_id}/history?limit=10"
        f"&starting_after={page.json()['data'][-1]['id']}",
        headers=h,
    )
    assert [e["type"] for e in rest.json()["data"]] == ["dunning", "payment_attempt", "invoice"]


async def test_another_merchants_customer_is_404(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount
) -> None:
    async with unit_of_work(runtime.session_factory) as session:
        inst = await seed_installment(session, merchant.id, due_at=T0, now=T0)
    other = await new_merchant(runtime, "Outra Loja")
    for method, path, body in (
        ("GET", "history", None),
        ("POST", "notes", {"body": "x"}),
        ("POST", "promises", {"amount": 100, "date": "2026-12-01"}),
    ):
        response = await client.request(
            method, f"/v1/customers/{inst.customer_id}/{path}", json=body, headers=other.headers
        )
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "not_found"


async def test_bad_notes_and_promises_are_422(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(T0)
    async with unit_of_work(runtime.session_factory) as session:
        inst = await seed_installment(session, merchant.id, due_at=T0, now=T0)
    base = f"/v1/customers/{inst.customer_id}"
    for path, body, field in (
        ("notes", {"body": "   "}, "body"),
        ("promises", {"amount": 0, "date": "2026-04-10"}, "amount"),
        ("promises", {"amount": 100, "date": "2026-01-01"}, "date"),
    ):
        response = await client.post(f"{base}/{path}", json=body, headers=merchant.headers)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field
