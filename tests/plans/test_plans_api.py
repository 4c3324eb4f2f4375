"""Plans API: create, list, show, patch; price and interval are immutable."""

from __future__ import annotations

from httpx import AsyncClient
from tests.conftest import MerchantAccount, new_merchant

from billing.runtime import Runtime

MONTHLY = {"name": "Mensal", "amount": 9990, "currency": "brl", "interval": "month"}


async def test_create_and_read_a_plan(client: AsyncClient, merchant: MerchantAccount) -> None:
    created = await client.post(
        "/v1/plans", json={**MONTHLY, "billing_cycles": 12}, headers=merchant.headers
    )
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["id"].startswith("plan_")
    assert plan["currency"] == "BRL"
    assert plan["interval_count"] == 1 and plan["trial_days"] == 0
    assert plan["billing_cycles"] == 12 and plan["active"] is True
    shown = await client.get(f"/v1/plans/{plan['id']}", headers=merchant.headers)
    assert shown.json() == plan
    listed = (await client.get("/v1/plans", headers=merchant.headers)).json()
    assert plan["id"] in [p["id"] for p in listed["data"]]
    assert listed["has_more"] is False


async def test_patch_name_active_and_metadata(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    plan = (await client.post("/v1/plans", json=MONTHLY, headers=merchant.headers)).json()
    patched = await client.patch(
        f"/v1/plans/{plan['id']}",
        json={"name": "Mensal Plus", "active": False, "metadata": {"tier": "plus"}},
        headers=merchant.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Mensal Plus"
    assert patched.json()["active"] is False
    assert patched.json()["metadata"] == {"tier": "plus"}
    assert patched.json()["amount"] == 9990


async def test_price_and_interval_are_immutable(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    plan = (await client.post("/v1/plans", json=MONTHLY, headers=merchant.headers)).json()
    for field, value in (("amount", 1), ("interval", "year"), ("currency", "USD")):
        response = await client.patch(
            f"/v1/plans/{plan['id']}", json={field: value, "name": "X"}, headers=merchant.headers
        )
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == field
    after = (await client.get(f"/v1/plans/{plan['id']}", headers=merchant.headers)).json()
    assert after == plan  # nothing written, not even the name


async def test_bad_input_is_problem_json_and_writes_nothing(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    cases = [
        ({**MONTHLY, "interval": "fortnight"}, "interval"),
        ({**MONTHLY, "currency": "XYZ"}, "currency"),
        ({**MONTHLY, "amount": -5}, "amount"),
        ({**MONTHLY, "interval_count": 0}, "interval_count"),
        ({**MONTHLY, "billing_cycles": 0}, "billing_cycles"),
        ({**MONTHLY, "name": "  "}, "name"),
    ]
    for body, field in cases:
        response = await client.post("/v1/plans", json=body, headers=merchant.headers)
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"][0]["field"] == field
    missing = await client.post("/v1/plans", json={"name": "x"}, headers=merchant.headers)
    assert missing.status_code in (400, 422)
    assert (await client.get("/v1/plans", headers=merchant.headers)).json()["data"] == []


async def test_another_merchants_plan_is_404(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    plan = (await client.post("/v1/plans", json=MONTHLY, headers=merchant.headers)).json()
    other = await new_merchant(runtime, "Outra")
    assert (await client.get(f"/v1/plans/{plan['id']}", headers=other.headers)).status_code == 404
    response = await client.patch(
        f"/v1/plans/{plan['id']}", json={"name": "stolen"}, headers=other.headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert (await client.get("/v1/plans", headers=other.headers)).json()["data"] == []
