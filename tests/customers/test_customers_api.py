"""Customers API: CPF/CNPJ validation, locale default, lookup by e-mail, tenant isolation."""

from __future__ import annotations

from httpx import AsyncClient
from tests.conftest import MerchantAccount, new_merchant

from billing.runtime import Runtime

CPF = "529.982.247-25"
CNPJ = "11.222.333/0001-81"


async def test_create_with_cpf_defaults_and_lookup_by_email(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    created = await client.post(
        "/v1/customers",
        json={"email": "Ana@Example.com", "name": "Ana Souza", "document": CPF},
        headers=merchant.headers,
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["id"].startswith("cus_")
    assert customer["locale"] == "pt-BR"
    assert customer["document"] == "52998224725"
    assert customer["document_type"] == "cpf"
    assert customer["is_business"] is False
    found = await client.get(
        "/v1/customers", params={"email": "ana@example.com"}, headers=merchant.headers
    )
    assert [c["id"] for c in found.json()["data"]] == [customer["id"]]
    none = await client.get(
        "/v1/customers", params={"email": "bob@example.com"}, headers=merchant.headers
    )
    assert none.json() == {"data": [], "has_more": False}


async def test_cnpj_makes_a_business_unless_told_otherwise(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    company = await client.post(
        "/v1/customers",
        json={"email": "fin@acme.com.br", "name": "Acme", "document": CNPJ, "locale": "en"},
        headers=merchant.headers,
    )
    assert company.status_code == 201
    assert company.json()["is_business"] is True
    assert company.json()["locale"] == "en"
    patched = await client.patch(
        f"/v1/customers/{company.json()['id']}",
        json={"is_business": False, "phone": "+55 11 91234-5678"},
        headers=merchant.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["is_business"] is False
    assert patched.json()["phone"] == "+55 11 91234-5678"


async def test_invalid_document_is_422_and_nothing_is_written(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    for document in ("529.982.247-26", "111.111.111-11", "11.222.333/0001-82", "123"):
        response = await client.post(
            "/v1/customers",
            json={"email": "x@example.com", "name": "X", "document": document},
            headers=merchant.headers,
        )
        assert response.status_code == 422, document
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == "document"
    bad_email = await client.post(
        "/v1/customers", json={"email": "not-an-email", "name": "X"}, headers=merchant.headers
    )
    assert bad_email.json()["errors"][0]["field"] == "email"
    bad_locale = await client.post(
        "/v1/customers",
        json={"email": "x@example.com", "name": "X", "locale": "fr"},
        headers=merchant.headers,
    )
    assert bad_locale.json()["errors"][0]["field"] == "locale"
    assert (await client.get("/v1/customers", headers=merchant.headers)).json()["data"] == []


async def test_patch_validates_and_isolation(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    customer = (
        await client.post(
            "/v1/customers", json={"email": "a@b.co", "name": "A"}, headers=merchant.headers
        )
    ).json()
    bad = await client.patch(
        f"/v1/customers/{customer['id']}", json={"document": "000"}, headers=merchant.headers
    )
    assert bad.status_code == 422
    other = await new_merchant(runtime, "Outra")
    url = f"/v1/customers/{customer['id']}"
    assert (await client.get(url, headers=other.headers)).status_code == 404
    assert (await client.patch(url, json={"name": "B"}, headers=other.headers)).status_code == 404
    assert (await client.get(url, headers=merchant.headers)).json()["name"] == "A"
