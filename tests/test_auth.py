"""API keys: Bearer auth, revocation, and keys never stored in clear (invariant 7)."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy import text

from billing.runtime import Runtime
from tests.conftest import MerchantAccount


async def test_missing_malformed_and_wrong_keys_are_401(client: AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "sk_test_nobearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer sk_test_doesnotexist"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        response = await client.get("/v1/merchant", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "unauthorized"


async def test_key_reads_its_own_merchant(client: AsyncClient, merchant: MerchantAccount) -> None:
    response = await client.get("/v1/merchant", headers=merchant.headers)
    assert response.status_code == 200
    assert response.json()["id"] == merchant.id
    assert merchant.api_key.startswith("sk_test_")


async def test_revoked_key_is_401_and_other_keys_keep_working(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    created = await client.post("/v1/api_keys", headers=merchant.headers)
    assert created.status_code == 201
    second = created.json()
    assert second["secret"].startswith("sk_test_")
    second_headers = {"Authorization": f"Bearer {second['secret']}"}
    assert (await client.get("/v1/merchant", headers=second_headers)).status_code == 200

    revoked = await client.post(f"/v1/api_keys/{second['id']}/revoke", headers=merchant.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert (await client.get("/v1/merchant", headers=second_headers)).status_code == 401
    assert (await client.get("/v1/merchant", headers=merchant.headers)).status_code == 200
    listed = (await client.get("/v1/api_keys", headers=merchant.headers)).json()["data"]
    assert all("secret" not in k or k["secret"] is None for k in listed)


async def test_no_key_is_stored_in_clear(runtime: Runtime, merchant: MerchantAccount) -> None:
    async with runtime.session_factory() as session:
        rows = (await session.execute(text("SELECT prefix, key_hash FROM api_keys"))).all()
    stored = " ".join(f"{p} {h}" for p, h in rows)
    assert merchant.api_key not in stored
    secret_part = merchant.api_key[len("sk_test_") :]
    assert secret_part not in stored
    assert any(merchant.api_key.startswith(p) for p, _ in rows)


async def test_another_merchants_key_cannot_revoke_mine(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    from tests.conftest import new_merchant

    other = await new_merchant(runtime, "Outra Loja")
    mine = (await client.get("/v1/api_keys", headers=merchant.headers)).json()["data"][0]
    response = await client.post(f"/v1/api_keys/{mine['id']}/revoke", headers=other.headers)
    assert response.status_code == 404
    assert (await client.get("/v1/merchant", headers=merchant.headers)).status_code == 200
