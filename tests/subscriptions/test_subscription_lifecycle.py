"""Subscriptions through the API: sign-up, trial, cancel, pause/resume, illegal moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from tests.conftest import MerchantAccount, new_merchant
from tests.subscriptions.helpers import (
    bill,
    get_sub,
    invoices_of,
    make_customer,
    make_plan,
    subscribe,
)

from billing.kit.clock import FixedClock
from billing.runtime import Runtime

SUB_KEYS = {
    "id",
    "customer_id",
    "plan_id",
    "status",
    "current_period_start",
    "current_period_end",
    "trial_end",
    "cancel_at_period_end",
    "canceled_at",
    "cycles_billed",
}
INVOICE_KEYS = {
    "id",
    "number",
    "customer_id",
    "subscription_id",
    "status",
    "currency",
    "subtotal",
    "discount",
    "late_fee",
    "interest",
    "total",
    "amount_paid",
    "amount_due",
    "due_at",
    "period_start",
    "period_end",
    "paid_at",
    "attempt_count",
    "next_payment_attempt",
    "lines",
}


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_sign_up_without_trial_invoices_the_first_installment(
    client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    plan = await make_plan(client, merchant)
    sub = await subscribe(client, merchant, plan, days_until_due=5)
    assert set(sub) >= SUB_KEYS
    assert sub["status"] == "active"
    assert sub["cycles_billed"] == 1
    assert sub["trial_end"] is None
    assert ts(sub["current_period_start"]) == clock.now()
    assert ts(sub["current_period_end"]) == datetime(2026, 2, 15, 12, 0, tzinfo=UTC)
    [invoice] = await invoices_of(client, merchant, sub["id"])
    assert set(invoice) >= INVOICE_KEYS
    assert invoice["number"] == 1
    assert invoice["status"] == "open"
    assert invoice["total"] == invoice["amount_due"] == 9990
    assert invoice["lines"] == [{"description": "Mensal", "amount": 9990, "kind": "subscription"}]
    assert ts(invoice["due_at"]) == clock.now() + timedelta(days=5)
    assert sub["latest_invoice_id"] == invoice["id"]


async def test_trial_then_first_invoice_when_it_ends(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount, clock: FixedClock
) -> None:
    plan = await make_plan(client, merchant, trial_days=14)
    sub = await subscribe(client, merchant, plan)
    assert sub["status"] == "trialing"
    assert sub["cycles_billed"] == 0
    trial_end = ts(sub["trial_end"])
    assert trial_end == datetime(2026, 1, 29, 12, 0, tzinfo=UTC)
    assert await invoices_of(client, merchant, sub["id"]) == []

    clock.set(trial_end - timedelta(seconds=1))
    await bill(runtime)
    assert (await get_sub(client, merchant, sub["id"]))["status"] == "trialing"

    clock.set(trial_end + timedelta(minutes=1))
    await bill(runtime)
    after = await get_sub(client, merchant, sub["id"])
    assert after["status"] == "active"
    assert after["cycles_billed"] == 1
    assert ts(after["current_period_start"]) == trial_end
    assert ts(after["current_period_end"]) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    [invoice] = await invoices_of(client, merchant, sub["id"])
    assert ts(invoice["period_start"]) == trial_end
    assert invoice["total"] == 9990


async def test_cancel_at_period_end_stops_renewal(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount, clock: FixedClock
) -> None:
    plan = await make_plan(client, merchant)
    sub = await subscribe(client, merchant, plan)
    response = await client.post(
        f"/v1/subscriptions/{sub['id']}/cancel", json={}, headers=merchant.headers
    )
    assert response.status_code == 200
    assert response.json()["cancel_at_period_end"] is True
    assert response.json()["status"] == "active"
    clock.set(ts(sub["current_period_end"]) + timedelta(hours=1))
    await bill(runtime)
    after = await get_sub(client, merchant, sub["id"])
    assert after["status"] == "canceled"
    assert after["ended_at"] == sub["current_period_end"]
    assert len(await invoices_of(client, merchant, sub["id"])) == 1


async def test_cancel_now(client: AsyncClient, merchant: MerchantAccount) -> None:
    plan = await make_plan(client, merchant)
    sub = await subscribe(client, merchant, plan)
    response = await client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": False},
        headers=merchant.headers,
    )
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert response.json()["canceled_at"] is not None
    listed = await client.get(
        "/v1/subscriptions", params={"status": "canceled"}, headers=merchant.headers
    )
    assert [s["id"] for s in listed.json()["data"]] == [sub["id"]]


async def test_pause_skips_billing_and_resume_starts_a_new_period(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount, clock: FixedClock
) -> None:
    plan = await make_plan(client, merchant)
    sub = await subscribe(client, merchant, plan)
    paused = await client.post(f"/v1/subscriptions/{sub['id']}/pause", headers=merchant.headers)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    await bill(runtime)
    assert len(await invoices_of(client, merchant, sub["id"])) == 1
    resumed = await client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=merchant.headers)
    assert resumed.status_code == 200
    body = resumed.json()
    assert body["status"] == "active"
    assert ts(body["current_period_start"]) == clock.now()
    assert ts(body["current_period_end"]) == datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
    invoices = await invoices_of(client, merchant, sub["id"])
    assert [inv["number"] for inv in invoices] == [1, 2]
    assert ts(invoices[1]["period_start"]) == clock.now()


async def test_illegal_transitions_are_409(client: AsyncClient, merchant: MerchantAccount) -> None:
    plan = await make_plan(client, merchant)
    other_plan = await make_plan(client, merchant, amount=5000)
    sub = await subscribe(client, merchant, plan)
    url = f"/v1/subscriptions/{sub['id']}"
    resume = await client.post(f"{url}/resume", headers=merchant.headers)
    assert resume.status_code == 409
    assert resume.headers["content-type"].startswith("application/problem+json")
    assert resume.json()["code"] == "invalid_state_transition"
    await client.post(f"{url}/cancel", json={"at_period_end": False}, headers=merchant.headers)
    for action, body in (
        ("pause", None),
        ("resume", None),
        ("cancel", {"at_period_end": False}),
        ("change_plan", {"plan_id": other_plan["id"]}),
    ):
        response = await client.post(f"{url}/{action}", json=body, headers=merchant.headers)
        assert response.status_code == 409, action
        assert response.json()["code"] == "invalid_state_transition"
    assert (await get_sub(client, merchant, sub["id"]))["status"] == "canceled"


async def test_other_merchants_objects_are_404_and_nothing_is_written(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    plan = await make_plan(client, merchant)
    customer = await make_customer(client, merchant)
    sub = await subscribe(client, merchant, plan, customer)
    [invoice] = await invoices_of(client, merchant, sub["id"])
    other = await new_merchant(runtime, "Outra")
    for path in (f"/v1/subscriptions/{sub['id']}", f"/v1/invoices/{invoice['id']}"):
        response = await client.get(path, headers=other.headers)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    for action in ("cancel", "pause"):
        response = await client.post(
            f"/v1/subscriptions/{sub['id']}/{action}", json={}, headers=other.headers
        )
        assert response.status_code == 404
    voided = await client.post(f"/v1/invoices/{invoice['id']}/void", headers=other.headers)
    assert voided.status_code == 404
    other_plan = await make_plan(client, other)
    # Another merchant's customer with my plan, or my customer with their plan: 404.
    for customer_id, plan_id in ((customer["id"], other_plan["id"]),):
        response = await client.post(
            "/v1/subscriptions",
            json={"customer_id": customer_id, "plan_id": plan_id},
            headers=other.headers,
        )
        assert response.status_code == 404
    assert (await client.get("/v1/subscriptions", headers=other.headers)).json()["data"] == []
    assert (await client.get("/v1/invoices", headers=other.headers)).json()["data"] == []
    assert (await get_sub(client, merchant, sub["id"]))["status"] == "active"


async def test_bad_input_is_problem_json_and_writes_nothing(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    plan = await make_plan(client, merchant)
    customer = await make_customer(client, merchant)
    base = {"customer_id": customer["id"], "plan_id": plan["id"]}
    for body, field in (
        ({**base, "days_until_due": -1}, "days_until_due"),
        ({**base, "trial_days": -3}, "trial_days"),
    ):
        response = await client.post("/v1/subscriptions", json=body, headers=merchant.headers)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field
    wrong = await client.post(
        "/v1/subscriptions",
        json={**base, "collection_method": "carrier_pigeon"},
        headers=merchant.headers,
    )
    assert wrong.status_code in (400, 422)
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/subscriptions", headers=merchant.headers)).json()["data"] == []
    assert (await client.get("/v1/invoices", headers=merchant.headers)).json()["data"] == []
