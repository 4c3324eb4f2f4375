"""Renegotiation in the portal, in Debian's chromium: the payer sees the options the policy
allows, the exact schedule, confirms, and lands on paying the first installment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.portal_browser import served_app, snapshot
from tests.e2e.test_portal_browser import _advance, _payer, _session_url, _setup, browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser"]  # the fixture, imported for this module


def _brl(amount: int) -> str:
    reais, cents = divmod(amount, 100)
    return f"R$ {reais:,}".replace(",", ".") + f",{cents:02d}"


def test_payer_renegotiates_in_three_installments(browser: Any, tmp_path: Path) -> None:
    with served_app(tmp_path) as app:
        _setup(app)
        ids = _payer(app, locale="pt-BR", email="joao@example.com", card="pm_card_chargeDeclined")
        app.api(
            "PUT",
            "/v1/settings/negotiation",
            json={"enabled": True, "min_days_overdue": 5, "max_installments": 3,
                  "min_installment_amount": 3000, "cash_discount_percent": "10",
                  "waive_fees": False, "break_after_days": 5},
        )  # fmt: skip
        _advance(app, 10)
        invoice = app.api("GET", f"/v1/invoices/{ids['invoice']}")
        owed = invoice["amount_due"]  # 100.00 + 2 % fee + 10 days of 1 %/month
        assert invoice["late_fee"] == 200 and owed > 10200

        context = browser.new_context(bypass_csp=True, viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.goto(_session_url(app, ids["customer"]))
        # Entry is a "Continue" form where the link must survive e-mail scanners' GETs.
        if page.get_by_test_id("enter-continue").count():
            page.get_by_test_id("enter-continue").click()
        page.wait_for_url("**/portal/")
        page.get_by_test_id("negotiate-link").click()
        page.wait_for_url("**/portal/negotiate/")
        snapshot(page, "pt-BR-negotiate")
        # Pay all now: 10 % off the whole debt (percent_of, half-even; owed is not a
        # multiple of 5 cents here, so plain rounding agrees).
        cash_total = owed - round(owed / 10)
        cash_label = page.locator("label[for=opt-1]").inner_text().replace("\xa0", " ")
        assert cash_label.startswith(f"À vista: {_brl(cash_total)}")
        page.get_by_label("3x de", exact=False).check()
        page.get_by_label("Pix").check()
        page.get_by_role("button", name="Ver o cronograma").click()
        page.wait_for_url("**/portal/negotiate/review**")
        snapshot(page, "pt-BR-negotiate-review")
        rows = page.get_by_test_id("schedule").locator("tbody tr")
        assert rows.count() == 3
        # allocate(): the leftover cents go to the first installments.
        base, extra = divmod(owed, 3)
        expected = [base + (1 if k < extra else 0) for k in range(3)]
        shown = [
            rows.nth(k).locator("td").nth(2).inner_text().replace("\xa0", " ") for k in range(3)
        ]
        assert shown == [_brl(a) for a in expected]
        total = page.get_by_test_id("agreement-total").inner_text().replace("\xa0", " ")
        assert total == _brl(owed)
        page.get_by_role("button", name="Confirmar o acordo").click()
        page.wait_for_url("**/pay")
        snapshot(page, "pt-BR-negotiate-first-installment")

        agreements = app.api("GET", f"/v1/agreements?customer_id={ids['customer']}")["data"]
        assert len(agreements) == 1
        agr = agreements[0]
        assert (agr["status"], agr["source"], agr["payment_method"]) == ("active", "portal", "pix")
        assert [p["amount"] for p in agr["installments"]] == expected
        assert page.url.endswith(f"/portal/invoices/{agr['installments'][0]['invoice_id']}/pay")
        original = app.api("GET", f"/v1/invoices/{ids['invoice']}")
        assert original["status"] == "renegotiated"
        context.close()
