"""Operator endpoints: liveness, readiness (fails when the database is down), metrics,
OpenAPI, request ids, and problem+json for routing errors."""

from __future__ import annotations

import httpx
import pytest

from billing.config import Settings
from billing.queue import InlineDispatcher
from billing.runtime import Runtime, build_runtime
from tests.conftest import MerchantAccount, app_client


async def test_health_ready_and_request_id(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert len(ready.headers["x-request-id"]) >= 16
    echoed = await client.get("/healthz", headers={"X-Request-Id": "req-abc-123"})
    assert echoed.headers["x-request-id"] == "req-abc-123"


async def test_readyz_fails_when_the_database_is_down() -> None:
    # A PostgreSQL URL whose server does not answer: the process is alive but not ready.
    settings = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", secret_key="x"
    )
    runtime: Runtime = await build_runtime(settings, dispatcher=InlineDispatcher())
    try:
        async with app_client(runtime) as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "not_ready"
            assert ready.json()["checks"]["database"].startswith("unreachable")
    finally:
        await runtime.close()


async def test_metrics_count_requests(client: httpx.AsyncClient) -> None:
    await client.get("/v1/merchant")
    body = (await client.get("/metrics")).text
    assert "billing_http_requests_total" in body
    assert 'status="401"' in body


async def test_openapi_describes_the_api(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/v1/merchant" in schema["paths"]
    assert "/v1/events" in schema["paths"]


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


async def test_invalid_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, merchant: MerchantAccount
) -> None:
    before = (await client.get("/v1/merchant", headers=merchant.headers)).json()
    bad = await client.patch(
        "/v1/merchant",
        headers=merchant.headers,
        json={"name": "Novo Nome", "timezone": "Mars/Olympus"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "timezone"
    after = (await client.get("/v1/merchant", headers=merchant.headers)).json()
    assert after == before
    typo = await client.patch("/v1/merchant", headers=merchant.headers, json={"nmae": "x"})
    assert typo.status_code in (400, 422)
    assert typo.headers["content-type"].startswith("application/problem+json")


async def test_portal_link_tokens_never_reach_the_logs(
    runtime: Runtime, merchant: MerchantAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    async with app_client(runtime) as client:
        customer = await client.post(
            "/v1/customers",
            headers=merchant.headers,
            json={"email": "ana@example.com", "name": "Ana Lima"},
        )
        assert customer.status_code == 201, customer.text
        created = await client.post(
            "/v1/portal_sessions",
            headers=merchant.headers,
            json={"customer_id": customer.json()["id"]},
        )
        assert created.status_code == 201, created.text
        path = "/portal/s/" + created.json()["url"].rsplit("/portal/s/", 1)[1]
        token = path.rsplit("/", 1)[1]
        opened = await client.get(path)
        assert opened.status_code == 200
    logged = capsys.readouterr().err
    assert "/portal/s/***" in logged
    assert token not in logged
