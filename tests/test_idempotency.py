"""Idempotency-Key semantics from API.md, on both databases."""

from __future__ import annotations

import asyncio

import httpx
from litestar import post
from sqlalchemy import text

from billing.runtime import Runtime
from tests.conftest import MerchantAccount, app_client

SLOW_CALLS: list[int] = []


@post("/v1/test_slow")
async def slow_endpoint(data: dict[str, int]) -> dict[str, int]:
    """Stands in for a request that is still running when the same key arrives again."""
    SLOW_CALLS.append(data["n"])
    await asyncio.sleep(0.5)
    return {"n": data["n"], "calls": len(SLOW_CALLS)}


def key_headers(merchant: MerchantAccount, key: str) -> dict[str, str]:
    return {**merchant.headers, "Idempotency-Key": key}


async def test_same_key_and_body_returns_the_first_response(
    client: httpx.AsyncClient, merchant: MerchantAccount
) -> None:
    first = await client.post("/v1/api_keys", headers=key_headers(merchant, "roll-1"))
    again = await client.post("/v1/api_keys", headers=key_headers(merchant, "roll-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()  # same key id and secret: nothing created twice
    assert again.headers["idempotent-replayed"] == "true"
    keys = (await client.get("/v1/api_keys", headers=merchant.headers)).json()["data"]
    assert len(keys) == 2  # the merchant's first key plus exactly one new one


async def test_same_key_with_another_body_is_409_reused(
    client: httpx.AsyncClient, merchant: MerchantAccount
) -> None:
    first = await client.post(
        "/v1/api_keys/unknown/revoke", headers=key_headers(merchant, "k-reuse"), json={"a": 1}
    )
    assert first.status_code == 404
    other = await client.post(
        "/v1/api_keys/unknown/revoke", headers=key_headers(merchant, "k-reuse"), json={"a": 2}
    )
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["code"] == "idempotency_key_reused"


async def test_keys_are_scoped_per_merchant(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    from tests.conftest import new_merchant

    other = await new_merchant(runtime, "Outra")
    mine = await client.post("/v1/api_keys", headers=key_headers(merchant, "shared-key"))
    theirs = await client.post("/v1/api_keys", headers=key_headers(other, "shared-key"))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_concurrent_requests_with_one_key_run_once(
    runtime: Runtime, merchant: MerchantAccount
) -> None:
    SLOW_CALLS.clear()
    async with app_client(runtime, extra_routes=[slow_endpoint]) as client:
        headers = key_headers(merchant, "concurrent-1")
        first, second = await asyncio.gather(
            client.post("/v1/test_slow", json={"n": 1}, headers=headers),
            client.post("/v1/test_slow", json={"n": 1}, headers=headers),
        )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [201, 409]
        loser = first if first.status_code == 409 else second
        assert loser.json()["code"] == "idempotency_key_in_progress"
        assert SLOW_CALLS == [1]
        # Once the first has finished, a repeat gets its response.
        replay = await client.post("/v1/test_slow", json={"n": 1}, headers=headers)
        assert replay.status_code == 201
        assert replay.json() == {"n": 1, "calls": 1}
        assert SLOW_CALLS == [1]


async def test_stored_responses_do_not_hold_secrets_in_clear(
    client: httpx.AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    created = await client.post("/v1/api_keys", headers=key_headers(merchant, "secret-check"))
    secret = created.json()["secret"]
    async with runtime.session_factory() as session:
        bodies = (await session.execute(text("SELECT response_body FROM idempotency_keys"))).all()
    assert bodies
    assert all(secret.encode() not in bytes(b or b"") for (b,) in bodies)


async def test_unauthenticated_post_with_key_is_401_and_keeps_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await client.post(
        "/v1/api_keys", headers={"Idempotency-Key": "anon", "Authorization": "Bearer sk_test_x"}
    )
    assert response.status_code == 401
    async with runtime.session_factory() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM idempotency_keys WHERE key = 'anon'")
        )
    assert count == 0
