"""The portal's "add a card" on Stripe Elements in a real browser (issue 7): a merchant on the
Stripe gateway pointed at localstripe, whose localstripe-v3.js stands in for Stripe.js.

The page runs under its real Content-Security-Policy (no ``bypass_csp``): Stripe.js and its
API calls load only because the card page's policy allows exactly their origins.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.portal_browser import ARTIFACTS, AXE, Served, served_app, snapshot
from tests.e2e.test_portal_browser import _advance, _open_link, _session_url, _setup, browser
from tests.fixtures_stripe import localstripe_url

__all__ = ["browser", "localstripe_url"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PUBLISHABLE = "pk_test_portalbrowser123"
# localstripe's fake Element is plain inputs, not Stripe's accessible iframe: not ours to fix.
CARD_ELEMENT = ("#card-element",)


def _stripe_payer(app: Served, localstripe: str) -> dict[str, str]:
    """A payer whose saved card is declined at every charge (localstripe's 4000…0341), so
    the first installment is overdue."""
    app.api(
        "PUT",
        "/v1/settings/gateway",
        json={
            "provider": "stripe",
            "secret_key": f"sk_test_{uuid.uuid4().hex}",
            "publishable_key": PUBLISHABLE,
        },
    )
    customer = app.api(
        "POST",
        "/v1/customers",
        json={"email": "maria@example.com", "name": "Maria Souza", "locale": "pt-BR"},
    )
    made = httpx.post(
        f"{localstripe}/v1/payment_methods",
        auth=("sk_test_x", ""),
        data={
            "type": "card",
            "card[number]": "4000000000000341",
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": "123",
        },
    )
    assert made.status_code == 200, made.text
    app.api(
        "POST",
        f"/v1/customers/{customer['id']}/payment_methods",
        json={"token": made.json()["id"]},
    )
    plan = app.api("GET", "/v1/plans")["data"][-1]
    sub = app.api(
        "POST", "/v1/subscriptions", json={"customer_id": customer["id"], "plan_id": plan["id"]}
    )
    invoice = app.api("GET", f"/v1/invoices?customer_id={customer['id']}")["data"][0]
    return {"customer": customer["id"], "subscription": sub["id"], "invoice": invoice["id"]}


def _fill_card(page: Any, number: str) -> None:
    """localstripe-v3.js mounts one plain input per field, named by its placeholder."""
    element = page.locator("#card-element")
    for field, value in (
        ("number", number),
        ("exp_month", "12"),
        ("exp_year", "34"),
        ("cvc", "123"),
        ("postal_code", "01310"),
    ):
        element.locator(f"input[placeholder={field}]").fill(value)


def test_add_card_with_elements_then_pay_overdue_pt_br(
    browser: Any, tmp_path: Path, localstripe_url: str
) -> None:
    env = {
        "BILLING_STRIPE_API_BASE": localstripe_url,
        "BILLING_STRIPE_JS_URL": f"{localstripe_url}/js.stripe.com/v3/",
    }
    with served_app(tmp_path, **env) as app:
        _setup(app)
        ids = _stripe_payer(app, localstripe_url)
        assert app.api("GET", f"/v1/subscriptions/{ids['subscription']}")["status"] == "past_due"
        _advance(app, 10)

        context = browser.new_context(viewport={"width": 390, "height": 844})
        context.add_init_script(path=str(AXE))  # see check_accessibility: the CSP is real
        page = context.new_page()
        blocked: list[str] = []
        page.on(
            "console",
            lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        _open_link(page, _session_url(app, ids["customer"]), "Continuar")
        page.get_by_role("link", name="Formas de pagamento").click()
        page.get_by_role("button", name="Adicionar cartão").click()
        page.wait_for_url("**/portal/methods/card/seti_**")
        save = page.get_by_role("button", name="Salvar cartão")
        save.wait_for()
        assert save.is_enabled()  # stripe_card.js ran and mounted the Element
        assert not page.get_by_test_id("card-no-js").is_visible()
        snapshot(page, "pt-BR-stripe-card", exclude=CARD_ELEMENT)

        # Declined at setup: the payer reads why, in plain words, and nothing is saved.
        _fill_card(page, "4000000000000002")
        save.click()
        error = page.get_by_test_id("card-error")
        error.filter(has_text="O banco não aceitou este cartão").wait_for()
        assert page.get_by_role("alert").filter(has_text="outro cartão").is_visible()
        snapshot(page, "pt-BR-stripe-card-declined", exclude=CARD_ELEMENT)
        methods = app.api("GET", f"/v1/customers/{ids['customer']}/payment_methods")["data"]
        assert [m["last4"] for m in methods] == ["0341"]

        _fill_card(page, "4242424242424242")
        save.click()
        page.wait_for_url("**/portal/methods?notice=methods.added")
        assert page.get_by_text("Cartão cadastrado.").is_visible()
        added = page.locator("li.card", has_text="Visa final 4242")
        assert added.get_by_text("Principal").is_visible()
        snapshot(page, "pt-BR-stripe-methods")
        methods = app.api("GET", f"/v1/customers/{ids['customer']}/payment_methods")["data"]
        default = next(m for m in methods if m["is_default"])
        assert default["last4"] == "4242" and len(methods) == 2

        page.get_by_role("link", name="Resumo").click()
        page.get_by_role("link", name=re.compile("Pagar a parcela")).first.click()
        page.wait_for_url("**/pay")
        page.get_by_label(re.compile("Visa final 4242")).check()
        page.get_by_role("button", name=re.compile("^Pagar R\\$")).click()
        page.get_by_test_id("pay-success").wait_for()
        snapshot(page, "pt-BR-stripe-receipt")
        assert app.api("GET", f"/v1/invoices/{ids['invoice']}")["status"] == "paid"
        assert app.api("GET", f"/v1/subscriptions/{ids['subscription']}")["status"] == "active"
        assert blocked == []  # the card page's policy let Stripe.js and its API through
        context.close()

        # Without JavaScript the page says what to do instead of a form that cannot work.
        plain = browser.new_context(java_script_enabled=False)
        page = plain.new_page()
        _open_link(page, _session_url(app, ids["customer"]), "Continuar")
        page.goto(app.base + "/portal/methods")
        page.get_by_role("button", name="Adicionar cartão").click()
        page.wait_for_url("**/portal/methods/card/seti_**")
        assert page.get_by_text("ative o JavaScript").is_visible()
        assert page.get_by_role("button", name="Salvar cartão").is_disabled()
        page.screenshot(path=str(ARTIFACTS / "pt-BR-stripe-card-no-js.png"), full_page=True)
        plain.close()
