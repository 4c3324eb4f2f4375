"""The merchant console in Debian's chromium: log in with an API key, read the dashboard
(charts render; screenshots kept in test-artifacts/console/), walk the debtor worklist to
a customer's history, log a promise to pay, edit the collection ruler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.portal_browser import check_accessibility, served_app
from tests.e2e.test_portal_browser import _advance, _payer, _setup, browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser"]  # the fixture, imported for this module

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    check_accessibility(page, f"console-{name}")


def test_merchant_logs_in_reads_dashboard_logs_a_promise_edits_ruler(
    browser: Any, tmp_path: Path
) -> None:
    with served_app(tmp_path) as app:
        _setup(app)
        ids = _payer(app, locale="pt-BR", email="joao@example.com", card="pm_card_chargeDeclined")
        _payer(app, locale="pt-BR", email="ana@example.com", card="pm_card_visa")
        _advance(app, 10)  # João's first charge was declined: 10 days overdue
        key = app.headers["Authorization"].removeprefix("Bearer ")

        # bypass_csp lets axe-core be injected; the pages themselves run no script.
        context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(app.base + "/console")
        page.wait_for_url("**/console/login")
        page.get_by_label("Secret API key").fill("sk_test_wrong")
        page.get_by_role("button", name="Log in").click()
        assert "wrong or has been revoked" in page.get_by_role("alert").inner_text()
        page.get_by_label("Secret API key").fill(key)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/console")

        # The session cookie is HttpOnly: the page's scripts cannot read it.
        assert page.evaluate("document.cookie") == ""
        for chart in ("chart-mrr", "chart-recovery", "chart-aging"):
            svg = page.locator(f"svg#{chart}")
            assert svg.is_visible() and svg.bounding_box()["height"] > 100
        # One overdue installment of 100.00 (late charges are not part of the aging).
        aging_bars = page.locator("svg#chart-aging rect.bar")
        assert aging_bars.count() == 1
        assert "BRL 100.00" in aging_bars.first.locator("title").text_content()
        # João's retries ran out within the 10 days and dunning marked his subscription
        # unpaid (involuntary churn); Ana's 100.00 a month is the MRR left.
        assert page.locator("#mrr-now").inner_text() == "BRL 100.00"
        last_bar = page.locator("svg#chart-mrr rect.bar").last.locator("title").text_content()
        assert last_bar is not None and last_bar.endswith("MRR: BRL 100.00")
        shot(page, "dashboard")

        page.get_by_role("link", name="Debtors").click()
        page.wait_for_url("**/console/debtors")
        row = page.locator("tbody tr").first
        assert "BRL 100.00" in row.inner_text()
        shot(page, "worklist")
        row.get_by_role("link").click()
        page.wait_for_url(f"**/console/customers/{ids['customer']}")

        # The server's clock is simulated: the promise is for a few days after its today.
        promised = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
        page.get_by_label("Amount (BRL)").fill("100,00")
        page.get_by_label("Promised date").fill(promised)
        page.get_by_role("button", name="Save promise").click()
        page.wait_for_url("**saved=promise")
        assert page.get_by_role("status").inner_text() == "Promise to pay saved."
        history = page.locator("section[aria-labelledby=h-history] tbody").inner_text()
        assert "promise" in history and "BRL 100.00" in history and promised in history
        shot(page, "customer")

        history_api = app.api("GET", f"/v1/customers/{ids['customer']}/history")["data"]
        promises = [e for e in history_api if e["type"] == "promise"]
        assert [(p["amount"], p["date"]) for p in promises] == [(10000, promised)]

        # The ruler editor: a refused edit explains itself, a valid one is saved.
        page.get_by_role("link", name="Ruler").click()
        page.wait_for_url("**/console/settings/ruler")
        page.get_by_label("Send at (HH:MM)").fill("22:00")
        page.get_by_role("button", name="Save the ruler").click()
        assert "send_at: falls inside the quiet hours" in page.get_by_role("alert").inner_text()
        page.get_by_label("Send at (HH:MM)").fill("10:00")
        page.get_by_label("Step 6 day").fill("30")
        page.get_by_label("Step 6 channel").select_option("sms")
        page.get_by_label("Step 6 template").select_option("renegotiation_offer")
        page.get_by_label("Step 6 tone").select_option("firm")
        page.get_by_role("button", name="Save the ruler").click()
        page.wait_for_url("**saved=1")
        assert page.get_by_role("status").inner_text() == "Ruler saved."
        shot(page, "ruler")
        steps = app.api("GET", "/v1/settings/collection")["steps"]
        assert steps[-1] == {
            "offset_days": 30, "channel": "sms", "template": "renegotiation_offer", "tone": "firm"
        }  # fmt: skip
