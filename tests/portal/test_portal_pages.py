"""The payer's pages: overview with the overdue amount due today, installments, receipt,
payment, methods, plan change with a preview, cancellation, help, languages."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from billing.runtime import Runtime
from tests.portal.portal_world import build_world, csrf_of, days_later, open_portal


async def test_overview_shows_overdue_with_fee_and_interest(
    client: AsyncClient, runtime: Runtime
) -> None:
    world = await build_world(client, runtime)
    days_later(runtime, 10)
    entered = await open_portal(client, world)
    assert entered.status_code == 303
    assert entered.headers["location"].rstrip("/") == "/portal"
    page = await client.get("/portal/")
    assert page.status_code == 200, page.text
    invoice = (
        await client.get(f"/v1/invoices/{world.invoice_id}", headers=world.merchant.headers)
    ).json()
    assert invoice["late_fee"] == 200 and invoice["interest"] > 0
    html = page.text
    assert "Pagamento em atraso" in html
    assert "R$\xa0100,00" in html  # the installment
    assert "R$\xa02,00" in html  # 2 % late fee
    assert f'data-testid="due-today">R$\xa0{invoice["amount_due"] // 100},' in html
    assert "não foi aprovado" in html or "não aprovado" in html.lower()
    assert "Academia Forte" in html and "#0f766e" in html


async def test_installments_detail_and_help_pages(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime)
    await open_portal(client, world)
    listing = await client.get("/portal/invoices")
    assert listing.status_code == 200 and world.invoice_id in listing.text
    detail = await client.get(f"/portal/invoices/{world.invoice_id}")
    assert detail.status_code == 200 and "Parcela nº" in detail.text
    help_page = await client.get("/portal/help")
    assert "11.222.333/0001-81" in help_page.text and "ajuda@academiaforte.com.br" in help_page.text


async def test_replace_declined_card_then_pay(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime)
    days_later(runtime, 5)
    await open_portal(client, world)
    pay_page = await client.get(f"/portal/invoices/{world.invoice_id}/pay")
    csrf = csrf_of(pay_page.text)
    started = await client.post(
        "/portal/methods/new",
        data={"csrf_token": csrf, "next": f"/portal/invoices/{world.invoice_id}/pay"},
    )
    assert started.status_code == 303, started.text
    sandbox_url = started.headers["location"]
    assert sandbox_url.startswith("/portal/sandbox/method_change/")
    form = await client.get(sandbox_url)
    assert form.status_code == 200 and "pm_card_visa" in form.text
    setup = sandbox_url.split("?")[0]
    saved = await client.post(
        setup,
        data={
            "csrf_token": csrf,
            "token": "pm_card_visa",
            "return_url": f"/portal/invoices/{world.invoice_id}/pay",
        },
    )
    assert saved.status_code == 303, saved.text
    pay_page = await client.get(saved.headers["location"])
    assert "Visa final 4242" in pay_page.text
    methods = (
        await client.get(
            f"/v1/customers/{world.customer_id}/payment_methods", headers=world.merchant.headers
        )
    ).json()["data"]
    visa = next(m for m in methods if m["last4"] == "4242")
    paid = await client.post(
        f"/portal/invoices/{world.invoice_id}/pay",
        data={"csrf_token": csrf, "payment_method_id": visa["id"]},
    )
    assert paid.status_code == 303, paid.text
    result = await client.get(paid.headers["location"])
    assert 'data-testid="pay-success"' in result.text, result.text
    sub = await client.get(
        f"/v1/subscriptions/{world.subscription_id}", headers=world.merchant.headers
    )
    assert sub.json()["status"] == "active"
    overview = await client.get("/portal/")
    assert "Você está em dia" in overview.text


async def test_declined_payment_shows_plain_reason(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime)
    await open_portal(client, world)
    page = await client.get(f"/portal/invoices/{world.invoice_id}/pay")
    methods = (
        await client.get(
            f"/v1/customers/{world.customer_id}/payment_methods", headers=world.merchant.headers
        )
    ).json()["data"]
    paid = await client.post(
        f"/portal/invoices/{world.invoice_id}/pay",
        data={"csrf_token": csrf_of(page.text), "payment_method_id": methods[0]["id"]},
    )
    result = await client.get(paid.headers["location"])
    assert 'data-testid="decline-message"' in result.text


async def test_pix_payment_then_sandbox_settles_it(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime)
    await open_portal(client, world)
    page = await client.get(f"/portal/invoices/{world.invoice_id}/pay")
    paid = await client.post(
        f"/portal/invoices/{world.invoice_id}/pay",
        data={"csrf_token": csrf_of(page.text), "payment_method_id": "pix"},
    )
    result = await client.get(paid.headers["location"])
    assert 'data-testid="pix-code"' in result.text and "data:image/png;base64," in result.text
    settled = await client.post(
        f"/v1/test_helpers/invoices/{world.invoice_id}/simulate_payment",
        headers=world.merchant.headers,
    )
    assert settled.status_code == 200, settled.text
    detail = await client.get(f"/portal/invoices/{world.invoice_id}")
    assert 'data-testid="receipt"' in detail.text


async def test_boleto_shows_typeable_line(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime)
    await open_portal(client, world)
    page = await client.get(f"/portal/invoices/{world.invoice_id}/pay")
    paid = await client.post(
        f"/portal/invoices/{world.invoice_id}/pay",
        data={"csrf_token": csrf_of(page.text), "payment_method_id": "boleto"},
    )
    result = await client.get(paid.headers["location"])
    assert 'data-testid="boleto-line"' in result.text


async def test_change_plan_with_preview_then_cancel(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime, card="pm_card_visa")
    days_later(runtime, 15)
    await open_portal(client, world)
    form = await client.get(f"/portal/subscriptions/{world.subscription_id}/change_plan")
    assert form.status_code == 200 and "Premium" in form.text
    preview = await client.get(
        f"/portal/subscriptions/{world.subscription_id}/change_plan/preview",
        params={"plan_id": world.bigger_plan_id},
    )
    assert preview.status_code == 200, preview.text
    assert 'data-testid="net"' in preview.text
    changed = await client.post(
        f"/portal/subscriptions/{world.subscription_id}/change_plan",
        data={"csrf_token": csrf_of(preview.text), "plan_id": world.bigger_plan_id},
    )
    assert changed.status_code == 303, changed.text
    sub = (
        await client.get(
            f"/v1/subscriptions/{world.subscription_id}", headers=world.merchant.headers
        )
    ).json()
    assert sub["plan_id"] == world.bigger_plan_id
    confirm = await client.get(f"/portal/subscriptions/{world.subscription_id}/cancel")
    assert confirm.status_code == 200
    canceled = await client.post(
        f"/portal/subscriptions/{world.subscription_id}/cancel",
        data={"csrf_token": csrf_of(confirm.text)},
    )
    assert canceled.status_code == 303
    sub = (
        await client.get(
            f"/v1/subscriptions/{world.subscription_id}", headers=world.merchant.headers
        )
    ).json()
    assert sub["cancel_at_period_end"] is True and sub["status"] == "active"


async def test_english_and_language_switch(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime, locale="en")
    await open_portal(client, world)
    page = await client.get("/portal/")
    assert 'lang="en"' in page.text and "Your subscriptions" in page.text
    switched = await client.post(
        "/portal/locale",
        data={"csrf_token": csrf_of(page.text), "locale": "pt-BR", "next": "/portal/invoices"},
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/portal/invoices"
    page = await client.get("/portal/invoices")
    assert 'lang="pt-BR"' in page.text and "Suas parcelas" in page.text


async def test_methods_default_and_remove(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime, card="pm_card_visa")
    h = world.merchant.headers
    second = await client.post(
        f"/v1/customers/{world.customer_id}/payment_methods",
        json={"token": "pm_card_mastercard", "set_default": False},
        headers=h,
    )
    await open_portal(client, world)
    page = await client.get("/portal/methods")
    assert "Mastercard final 4444" in page.text
    csrf = csrf_of(page.text)
    made = await client.post(
        f"/portal/methods/{second.json()['id']}/default", data={"csrf_token": csrf}
    )
    assert made.status_code == 303
    listed = (
        await client.get(f"/v1/customers/{world.customer_id}/payment_methods", headers=h)
    ).json()
    assert {m["id"]: m["is_default"] for m in listed["data"]}[second.json()["id"]] is True
    removed = await client.post(
        f"/portal/methods/{second.json()['id']}/remove", data={"csrf_token": csrf}
    )
    assert removed.status_code == 303
    page = await client.get("/portal/methods")
    assert "Mastercard final 4444" not in page.text


async def _bank_challenge(client: AsyncClient, world: object) -> str:
    """Open the installment whose payment awaits 3-D Secure; follow "Confirmar pagamento"."""
    detail = await client.get(f"/portal/invoices/{world.invoice_id}")  # type: ignore[attr-defined]
    assert "O seu banco pediu uma confirmação de segurança." in detail.text
    start = detail.text.index('href="/portal/sandbox/authenticate/') + len('href="')
    return detail.text[start : detail.text.index('"', start)]


async def test_bank_authentication_approved_pays_the_installment(
    client: AsyncClient, runtime: Runtime
) -> None:
    world = await build_world(client, runtime, card="pm_card_authenticationRequired")
    h = world.merchant.headers
    attempts = (await client.get(f"/v1/payments?invoice_id={world.invoice_id}", headers=h)).json()
    assert attempts["data"][0]["status"] == "requires_action"
    await open_portal(client, world)
    challenge_url = await _bank_challenge(client, world)
    challenge = await client.get(challenge_url)
    assert challenge.status_code == 200, challenge.text
    assert "R$\xa0100,00" in challenge.text and "Aprovar" in challenge.text
    approved = await client.post(
        challenge_url, data={"csrf_token": csrf_of(challenge.text), "outcome": "approve"}
    )
    assert approved.status_code == 303, approved.text
    result = await client.get(approved.headers["location"])
    assert 'data-testid="pay-success"' in result.text, result.text
    invoice = (await client.get(f"/v1/invoices/{world.invoice_id}", headers=h)).json()
    assert invoice["status"] == "paid"
    sub = (await client.get(f"/v1/subscriptions/{world.subscription_id}", headers=h)).json()
    assert sub["status"] == "active"
    # The challenge cannot be answered twice: the page now says so, and a second POST
    # changes nothing.
    again = await client.get(challenge_url)
    assert again.status_code == 200 and "não aguarda mais confirmação" in again.text
    replay = await client.post(
        challenge_url, data={"csrf_token": csrf_of(challenge.text), "outcome": "fail"}
    )
    assert replay.status_code == 303
    invoice = (await client.get(f"/v1/invoices/{world.invoice_id}", headers=h)).json()
    assert invoice["status"] == "paid"


async def test_bank_authentication_failed_leaves_it_due(
    client: AsyncClient, runtime: Runtime
) -> None:
    world = await build_world(client, runtime, card="pm_card_authenticationRequired")
    other = await build_world(
        client, runtime, card="pm_card_authenticationRequired", email="b@example.com"
    )
    await open_portal(client, world)
    challenge_url = await _bank_challenge(client, world)
    challenge = await client.get(challenge_url)
    failed = await client.post(
        challenge_url, data={"csrf_token": csrf_of(challenge.text), "outcome": "fail"}
    )
    assert failed.status_code == 303
    result = await client.get(failed.headers["location"])
    assert 'data-testid="decline-message"' in result.text, result.text
    h = world.merchant.headers
    invoice = (await client.get(f"/v1/invoices/{world.invoice_id}", headers=h)).json()
    assert invoice["status"] == "open" and invoice["amount_paid"] == 0
    payments = (await client.get(f"/v1/payments?invoice_id={world.invoice_id}", headers=h)).json()
    assert payments["data"][0]["status"] == "failed"
    # Another payer's challenge is a 404, to look at and to answer.
    theirs = (
        await client.get(
            f"/v1/payments?invoice_id={other.invoice_id}", headers=other.merchant.headers
        )
    ).json()["data"][0]
    assert theirs["status"] == "requires_action"
    other_attempt_url = f"/portal/sandbox/authenticate/{await _gateway_ref(runtime, theirs['id'])}"
    assert (await client.get(other_attempt_url)).status_code == 404
    answered = await client.post(
        other_attempt_url, data={"csrf_token": csrf_of(challenge.text), "outcome": "approve"}
    )
    assert answered.status_code == 404
    assert (
        await client.get(f"/v1/invoices/{other.invoice_id}", headers=other.merchant.headers)
    ).json()["status"] == "open"


async def _gateway_ref(runtime: Runtime, attempt_id: str) -> str:
    from sqlalchemy import select

    from billing.models import PaymentAttempt

    async with runtime.session_factory() as session:
        ref = await session.scalar(
            select(PaymentAttempt.gateway_ref).where(PaymentAttempt.id == attempt_id)
        )
    assert ref
    return ref


async def test_reading_pages_skip_the_transaction(
    client: AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The overview only reads, in one statement: it runs without BEGIN/COMMIT (round
    trips on PostgreSQL, hops to the driver's thread on SQLite)."""
    from billing.portal import pages

    world = await build_world(client, runtime)
    await open_portal(client, world)
    seen: list[bool] = []
    real = pages.read_overview

    async def watched(connection: Any, cookie: Any, now: Any) -> Any:
        page = await real(connection, cookie, now)
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        # asyncpg asks the protocol; aiosqlite mirrors sqlite3's flag.
        postgres = runtime.engine.dialect.name == "postgresql"
        seen.append(driver.is_in_transaction() if postgres else driver.in_transaction)
        return page

    monkeypatch.setattr(pages, "read_overview", watched)
    page = await client.get("/portal/")
    assert page.status_code == 200 and "Mensal" in page.text
    assert seen == [False]
