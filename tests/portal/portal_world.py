"""A payer with an overdue installment, built through the merchant API (as a merchant would)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx

from billing.kit.clock import FixedClock
from billing.runtime import Runtime
from tests.conftest import MerchantAccount, new_merchant

IDENTITY = {
    "legal_name": "Academia Forte Ltda",
    "document": "11222333000181",
    "support_email": "ajuda@academiaforte.com.br",
    "support_phone": "+55 11 4000-1234",
    "brand_color": "#0f766e",
    "portal_return_url": "https://academiaforte.example/conta",
}


@dataclass
class World:
    merchant: MerchantAccount
    customer_id: str
    email: str
    subscription_id: str
    invoice_id: str
    plan_id: str
    bigger_plan_id: str


async def build_world(
    client: httpx.AsyncClient,
    runtime: Runtime,
    *,
    card: str = "pm_card_chargeDeclined",
    locale: str = "pt-BR",
    email: str = "maria@example.com",
) -> World:
    merchant = await new_merchant(runtime)
    h = merchant.headers
    assert (await client.patch("/v1/merchant", json=IDENTITY, headers=h)).status_code == 200
    plan = await client.post(
        "/v1/plans",
        json={"name": "Mensal", "amount": 10000, "currency": "BRL", "interval": "month"},
        headers=h,
    )
    bigger = await client.post(
        "/v1/plans",
        json={"name": "Premium", "amount": 20000, "currency": "BRL", "interval": "month"},
        headers=h,
    )
    assert plan.status_code == 201 and bigger.status_code == 201, plan.text
    customer = await client.post(
        "/v1/customers", json={"email": email, "name": "Maria Souza", "locale": locale}, headers=h
    )
    assert customer.status_code == 201, customer.text
    cid = customer.json()["id"]
    method = await client.post(
        f"/v1/customers/{cid}/payment_methods", json={"token": card}, headers=h
    )
    assert method.status_code == 201, method.text
    sub = await client.post(
        "/v1/subscriptions",
        json={"customer_id": cid, "plan_id": plan.json()["id"]},
        headers=h,
    )
    assert sub.status_code == 201, sub.text
    invoices = await client.get(f"/v1/invoices?customer_id={cid}", headers=h)
    invoice_id = invoices.json()["data"][0]["id"]
    return World(
        merchant,
        cid,
        email,
        sub.json()["id"],
        invoice_id,
        plan.json()["id"],
        bigger.json()["id"],
    )


def days_later(runtime: Runtime, days: int) -> None:
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(days=days))


async def open_portal(client: httpx.AsyncClient, world: World, **body: object) -> httpx.Response:
    """Ask for a session link and open it: the client then holds the session cookie."""
    created = await client.post(
        "/v1/portal_sessions",
        json={"customer_id": world.customer_id, **body},
        headers=world.merchant.headers,
    )
    assert created.status_code == 201, created.text
    path = created.json()["url"].removeprefix("http://testserver.local")
    return await enter(client, path)


async def enter(client: httpx.AsyncClient, path: str) -> httpx.Response:
    """What the payer does with a session link: open it (a "Continue" page that uses
    nothing up), then press Continue (the POST that swaps the link for the cookie)."""
    page = await client.get(path)
    if page.status_code != 200:
        return page
    assert "billing_portal=" not in page.headers.get("set-cookie", ""), "GET must not log in"
    return await client.post(path, data={"csrf_token": csrf_of(page.text)})


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
