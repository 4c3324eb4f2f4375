"""The payer portal in a real browser (Debian's chromium via Playwright): the journeys of
issue 7, a screenshot of each page in test-artifacts/portal/ and axe-core on each page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.portal_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Served,
    require_chromium,
    served_app,
    snapshot,
)
from tests.portal.portal_world import IDENTITY

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _payer(app: Served, *, locale: str, email: str, card: str) -> dict[str, str]:
    customer = app.api(
        "POST", "/v1/customers", json={"email": email, "name": "Maria Souza", "locale": locale}
    )
    app.api("POST", f"/v1/customers/{customer['id']}/payment_methods", json={"token": card})
    plan = app.api("GET", "/v1/plans")["data"][-1]  # "Mensal", the first one created
    sub = app.api(
        "POST", "/v1/subscriptions", json={"customer_id": customer["id"], "plan_id": plan["id"]}
    )
    invoice = app.api("GET", f"/v1/invoices?customer_id={customer['id']}")["data"][0]
    return {"customer": customer["id"], "subscription": sub["id"], "invoice": invoice["id"]}


def _setup(app: Served) -> None:
    app.api("PATCH", "/v1/merchant", json=IDENTITY)
    for name, amount in (("Mensal", 10000), ("Premium", 20000)):
        app.api(
            "POST",
            "/v1/plans",
            json={"name": name, "amount": amount, "currency": "BRL", "interval": "month"},
        )


def _advance(app: Served, days: int) -> None:
    # The simulated clock started at the real time when the server first used it.
    target = (datetime.now(UTC) + timedelta(days=days)).isoformat()
    app.api("POST", "/v1/test_helpers/advance_clock", json={"to": target}, timeout=120)


def _session_url(app: Served, customer: str, **extra: str) -> str:
    return str(
        app.api("POST", "/v1/portal_sessions", json={"customer_id": customer, **extra})["url"]
    )


def _open_link(page: Any, url: str, button: str, snapshot_name: str | None = None) -> None:
    """Open the session link (a "Continue" page: an e-mail scanner's GET uses nothing up),
    then press the button that signs in."""
    page.goto(url)
    if snapshot_name:
        snapshot(page, snapshot_name)
    page.get_by_role("button", name=button).click()
    page.wait_for_url(re.compile(r".*/portal/?$"))


def test_overdue_replace_card_pay_change_plan_cancel_pt_br(browser: Any, tmp_path: Path) -> None:
    with served_app(tmp_path) as app:
        _setup(app)
        ids = _payer(app, locale="pt-BR", email="maria@example.com", card="pm_card_chargeDeclined")
        assert app.api("GET", f"/v1/subscriptions/{ids['subscription']}")["status"] == "past_due"
        _advance(app, 10)
        invoice = app.api("GET", f"/v1/invoices/{ids['invoice']}")
        assert invoice["late_fee"] > 0 and invoice["interest"] > 0

        context = browser.new_context(bypass_csp=True, viewport={"width": 390, "height": 844})
        page = context.new_page()
        url = _session_url(app, ids["customer"])
        _open_link(page, url, "Continuar", "pt-BR-enter")
        assert page.url.rstrip("/").endswith("/portal")  # the token left the address bar
        assert page.get_by_role("heading", name="Pagamento em atraso").is_visible()
        assert page.get_by_test_id("late-fee").inner_text().replace("\xa0", " ") == "R$ 2,00"
        assert page.get_by_test_id("interest").inner_text() != "R$\xa00,00"
        snapshot(page, "pt-BR-overview-overdue")

        page.get_by_role("link", name=re.compile("Pagar a parcela")).first.click()
        page.wait_for_url("**/pay")
        snapshot(page, "pt-BR-pay")
        page.get_by_role("button", name="Cadastrar um novo cartão e pagar").click()
        page.wait_for_url("**/portal/sandbox/method_change/**")
        snapshot(page, "pt-BR-sandbox-card")
        page.get_by_label("Cartão de teste").select_option("pm_card_visa")
        page.get_by_role("button", name="Salvar cartão").click()
        page.wait_for_url("**/pay")
        assert page.get_by_label(re.compile("Visa final 4242")).is_checked()
        page.get_by_role("button", name=re.compile("^Pagar R\\$")).click()
        page.get_by_test_id("pay-success").wait_for()
        snapshot(page, "pt-BR-receipt")
        assert app.api("GET", f"/v1/subscriptions/{ids['subscription']}")["status"] == "active"

        page.get_by_role("link", name="Resumo").click()
        assert page.get_by_text("Você está em dia").is_visible()
        assert page.get_by_test_id("sub-status").first.inner_text() == "Ativa"
        snapshot(page, "pt-BR-overview-paid")
        page.get_by_role("link", name="Parcelas").click()
        snapshot(page, "pt-BR-installments")
        page.get_by_role("link", name="Formas de pagamento").click()
        snapshot(page, "pt-BR-methods")
        page.get_by_role("link", name="Ajuda").click()
        assert page.get_by_text("11.222.333/0001-81").is_visible()
        snapshot(page, "pt-BR-help")

        page.get_by_role("link", name="Resumo").click()
        page.get_by_role("link", name="Trocar de plano").click()
        snapshot(page, "pt-BR-change-plan")
        page.get_by_label(re.compile("^Premium")).check()
        page.get_by_role("button", name="Ver valores").click()
        assert page.get_by_test_id("net").is_visible()
        snapshot(page, "pt-BR-change-plan-preview")
        page.get_by_role("button", name="Confirmar troca").click()
        page.get_by_text("Plano alterado com sucesso.").wait_for()
        sub = app.api("GET", f"/v1/subscriptions/{ids['subscription']}")
        premium = next(p for p in app.api("GET", "/v1/plans")["data"] if p["name"] == "Premium")
        assert sub["plan_id"] == premium["id"]

        page.get_by_role("link", name="Cancelar assinatura").click()
        snapshot(page, "pt-BR-cancel")
        page.get_by_role("button", name="Confirmar cancelamento").click()
        page.get_by_text("Cancelamento agendado.").first.wait_for()
        snapshot(page, "pt-BR-overview-canceled")
        assert app.api("GET", f"/v1/subscriptions/{ids['subscription']}")["cancel_at_period_end"]

        # The link was single-use: opening it again shows the friendly error page.
        reused = context.new_page()
        response = reused.goto(url)
        assert response is not None and response.status == 410
        snapshot(reused, "pt-BR-error-link-used")
        context.close()


def test_pix_payment_and_english_pages(browser: Any, tmp_path: Path) -> None:
    with served_app(tmp_path) as app:
        _setup(app)
        ids = _payer(app, locale="en", email="john@example.com", card="pm_card_chargeDeclined")
        _advance(app, 3)
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        _open_link(page, _session_url(app, ids["customer"]), "Continue", "en-enter")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("heading", name="Payment overdue").is_visible()
        snapshot(page, "en-overview-overdue")

        page.get_by_role("link", name=re.compile("Pay installment")).first.click()
        snapshot(page, "en-pay")
        page.get_by_label("Pix (instant)").check()
        page.get_by_role("button", name=re.compile("^Pay R\\$")).click()
        page.get_by_test_id("pix-code").wait_for()
        assert page.get_by_test_id("pix-code").input_value().startswith("000201")
        assert page.get_by_role("img", name=re.compile("Pix QR code")).is_visible()
        snapshot(page, "en-pix")

        paid = app.api("POST", f"/v1/test_helpers/invoices/{ids['invoice']}/simulate_payment")
        assert paid["status"] == "paid"
        page.get_by_role("link", name="I have paid: check status").click()
        page.get_by_test_id("receipt").wait_for()
        snapshot(page, "en-receipt")
        assert app.api("GET", f"/v1/subscriptions/{ids['subscription']}")["status"] == "active"

        page.get_by_role("button", name="Português").click()
        assert page.locator("html").get_attribute("lang") == "pt-BR"
        page.get_by_role("button", name="English").click()
        page.get_by_role("link", name="Installments").click()
        snapshot(page, "en-installments")
        page.get_by_role("link", name="Payment methods").click()
        snapshot(page, "en-methods")
        page.get_by_role("link", name="Help").click()
        snapshot(page, "en-help")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login**")
        assert page.get_by_text("You have signed out.").is_visible()
        snapshot(page, "en-login")
        page.get_by_label("E-mail").fill("john@example.com")
        page.get_by_role("button", name="Send link").click()
        page.get_by_test_id("login-sent").wait_for()
        snapshot(page, "en-login-sent")
        context.close()


def test_bank_authentication_step_en(browser: Any, tmp_path: Path) -> None:
    with served_app(tmp_path) as app:
        _setup(app)
        ids = _payer(
            app, locale="en", email="ana@example.com", card="pm_card_authenticationRequired"
        )
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        _open_link(page, _session_url(app, ids["customer"]), "Continue")
        page.get_by_role("link", name="Installments").click()
        page.get_by_role("link", name=re.compile("View details")).first.click()
        page.get_by_role("link", name="Confirm payment").click()
        page.wait_for_url("**/portal/sandbox/authenticate/**")
        assert page.get_by_test_id("auth-amount").inner_text().startswith("Payment of R$")
        snapshot(page, "en-bank-authentication")
        page.get_by_role("button", name="Approve").click()
        page.get_by_test_id("pay-success").wait_for()
        assert app.api("GET", f"/v1/invoices/{ids['invoice']}")["status"] == "paid"
        assert app.api("GET", f"/v1/subscriptions/{ids['subscription']}")["status"] == "active"
        context.close()
