"""The served OpenAPI document describes every payments endpoint (API.md)."""

from __future__ import annotations

from httpx import AsyncClient


async def test_openapi_describes_the_payment_endpoints(client: AsyncClient) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in [
        "/v1/invoices/{invoice_id}/pay",
        "/v1/payments",
        "/v1/settings/gateway",
        "/v1/customers/{customer_id}/payment_methods",
        "/v1/customers/{customer_id}/payment_methods/{method_id}",
        "/v1/test_helpers/invoices/{invoice_id}/simulate_payment",
    ]:
        assert p in paths, (p, sorted(paths))
