"""The merchant console over HTTP: login exchanges a key for a hashed cookie session,
pages render the reports, forms need the session's CSRF token."""

from __future__ import annotations

import re

from httpx import AsyncClient
from sqlalchemy import select

from billing.kit.clock import FixedClock
from billing.kit.secrets import hash_token
from billing.models import ConsoleSession, PaymentPromise
from billing.runtime import Runtime
from tests.conftest import MerchantAccount, new_merchant
from tests.reports.test_reports import NOW, seed


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


async def login_form(client: AsyncClient, key: str) -> dict[str, str]:
    """What the login page's form posts: the key and the page's one-time token."""
    page = await client.get("/console/login")
    assert page.status_code == 200
    return {"api_key": key, "csrf_token": csrf_of(page.text)}


async def log_in(client: AsyncClient, key: str) -> str:
    r = await client.post("/console/login", data=await login_form(client, key))
    assert r.status_code == 303, r.text
    return r.cookies["console_session"]


async def test_console_login_dashboard_worklist_and_promise(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(NOW)
    cx, cy = await seed(runtime, merchant.id)

    assert (await client.get("/console")).headers["location"] == "/console/login"
    wrong = await client.post("/console/login", data=await login_form(client, "sk_test_nope"))
    assert wrong.status_code == 401 and "wrong or has been revoked" in wrong.text

    r = await client.post("/console/login", data=await login_form(client, merchant.api_key))
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert (
        "HttpOnly" in cookie and "Path=/console" in cookie and "samesite=strict" in cookie.lower()
    )
    raw = r.cookies["console_session"]
    async with runtime.session_factory() as s:
        stored = await s.scalar(select(ConsoleSession.session_hash))
    assert stored == hash_token(raw) and raw not in stored

    home = await client.get("/console")
    assert home.status_code == 200, home.text
    for chart in ("chart-mrr", "chart-recovery", "chart-aging"):
        assert f'<svg id="{chart}"' in home.text
    # Aging total 7000 + 10000 + 20000 + 8000 + 3000 (tests/reports/test_reports.py).
    assert "BRL 480.00" in home.text

    work = await client.get("/console/debtors?sort=score")
    assert work.status_code == 200
    assert work.text.index(f"/console/customers/{cy}") < work.text.index(f"/console/customers/{cx}")

    page = await client.get(f"/console/customers/{cx}")
    assert page.status_code == 200 and "Log a promise to pay" in page.text
    token = csrf_of(page.text)

    forged = await client.post(
        f"/console/customers/{cx}/promises", data={"amount": "150,00", "date": "2026-04-10"}
    )
    assert forged.status_code == 403
    bad = await client.post(
        f"/console/customers/{cx}/promises",
        data={"amount": "150,00", "date": "2026-04-01", "csrf_token": token},
    )
    assert bad.status_code == 422 and "must not be in the past" in bad.text
    ok = await client.post(
        f"/console/customers/{cx}/promises",
        data={"amount": "150,00", "date": "2026-04-10", "csrf_token": token},
    )
    assert ok.status_code == 303, ok.text
    async with runtime.session_factory() as s:
        promises = (await s.scalars(select(PaymentPromise))).all()
    assert [(p.customer_id, p.amount, str(p.promised_date)) for p in promises] == [
        (cx, 15000, "2026-04-10")
    ]
    after = await client.get(ok.headers["location"])
    assert "Promise to pay saved." in after.text and "BRL 150.00" in after.text

    note = await client.post(
        f"/console/customers/{cx}/notes",
        data={"body": "Called, will pay Friday", "csrf_token": token},
    )
    assert note.status_code == 303
    assert "Called, will pay Friday" in (await client.get(note.headers["location"])).text

    # Logging out ends the session server-side: the old cookie no longer opens anything.
    token = csrf_of((await client.get("/console")).text)
    out = await client.post("/console/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    client.cookies.set("console_session", raw)
    assert (await client.get("/console")).headers["location"] == "/console/login"

    # Another merchant's session cannot open this merchant's customer.
    other = await new_merchant(runtime, "Outra Loja")
    client.cookies.clear()
    await log_in(client, other.api_key)
    assert (await client.get(f"/console/customers/{cx}")).status_code == 404


def ruler_form(html: str) -> dict[str, str]:
    """The ruler form's current values, as a browser would submit them."""
    values: dict[str, str] = {"csrf_token": csrf_of(html)}
    for name, value in re.findall(r'<input (?:id="\w+" )?name="([\w-]+)" value="([^"]*)"', html):
        values[name] = value
    for name, body in re.findall(r'<select name="([\w-]+)"[^>]*>(.*?)</select>', html):
        chosen = re.search(r"<option selected>([^<]*)</option>", body)
        values[name] = chosen.group(1) if chosen else ""
    return values


async def test_console_ruler_editor_validates_and_saves(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    await log_in(client, merchant.api_key)
    page = await client.get("/console/settings/ruler")
    assert page.status_code == 200
    form = ruler_form(page.text)
    # The five default steps, then two spare rows.
    assert [form[f"steps-{i}-offset_days"] for i in range(7)] == ["-3", "1", "3", "7", "15", "", ""]

    refused = await client.post(
        "/console/settings/ruler", data={**form, "send_at": "22:00", "steps-5-offset_days": "x"}
    )
    assert refused.status_code == 422
    assert "send_at: falls inside the quiet hours" in refused.text
    assert "whole days between -60 and 120" in refused.text
    assert 'value="22:00"' in refused.text  # what was typed is shown again
    unchanged = await client.get("/v1/settings/collection", headers=merchant.headers)
    assert unchanged.json()["send_at"] == "10:00"

    saved = await client.post(
        "/console/settings/ruler",
        data={
            **form, "steps-0-delete": "1", "steps-5-offset_days": "30",
            "steps-5-channel": "sms", "steps-5-template": "renegotiation_offer",
            "steps-5-tone": "firm",
        },
    )  # fmt: skip
    assert saved.status_code == 303
    steps = (await client.get("/v1/settings/collection", headers=merchant.headers)).json()["steps"]
    assert [(s["offset_days"], s["channel"], s["template"], s["tone"]) for s in steps] == [
        (1, "email", "payment_failed", "friendly"),
        (3, "email", "overdue", "friendly"),
        (7, "email", "overdue", "firm"),
        (15, "email", "final_notice", "final"),
        (30, "sms", "renegotiation_offer", "firm"),
    ]
    assert "Ruler saved." in (await client.get(saved.headers["location"])).text


async def test_console_plans_create_and_archive(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount
) -> None:
    await log_in(client, merchant.api_key)
    token = csrf_of((await client.get("/console/plans")).text)
    plan = {"name": "Anual", "amount": "1.199,90", "interval": "year", "interval_count": "1",
            "trial_days": "7", "csrf_token": token}  # fmt: skip
    bad = await client.post("/console/plans", data=plan)
    assert bad.status_code == 422 and "amount: a price such as 99.90" in bad.text
    bad = await client.post(
        "/console/plans", data={**plan, "amount": "1199,90", "interval": "fortnight"}
    )
    assert bad.status_code == 422 and "interval: must be one of" in bad.text
    assert 'value="Anual"' in bad.text  # the form keeps what was typed
    ok = await client.post("/console/plans", data={**plan, "amount": "1199,90"})
    assert ok.status_code == 303
    listed = (await client.get("/v1/plans", headers=merchant.headers)).json()["data"]
    assert [(p["name"], p["amount"], p["interval"], p["trial_days"], p["active"])
            for p in listed] == [("Anual", 119990, "year", 7, True)]  # fmt: skip

    archived = await client.post(
        f"/console/plans/{listed[0]['id']}/archive", data={"csrf_token": token}
    )
    assert archived.status_code == 303
    again = (await client.get(f"/v1/plans/{listed[0]['id']}", headers=merchant.headers)).json()
    assert again["active"] is False
    assert "Plan archived." in (await client.get(archived.headers["location"])).text

    other = await new_merchant(runtime, "Outra Loja")
    client.cookies.clear()
    await log_in(client, other.api_key)
    token = csrf_of((await client.get("/console/plans")).text)
    foreign = await client.post(
        f"/console/plans/{listed[0]['id']}/archive", data={"csrf_token": token}
    )
    assert foreign.status_code == 404


async def test_console_policy_editors_show_validation_messages(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    await log_in(client, merchant.api_key)
    page = await client.get("/console/settings/negotiation")
    assert page.status_code == 200 and 'value="50.00"' in page.text  # 5000 minor units
    token = csrf_of(page.text)
    form = {
        "csrf_token": token, "enabled": "1", "min_days_overdue": "5", "max_installments": "3",
        "min_installment_amount": "30,00", "cash_discount_percent": "10",
        "cash_discount_on": "total", "break_after_days": "5",
    }  # fmt: skip
    shape = await client.post(
        "/console/settings/negotiation", data={**form, "max_installments": "três"}
    )
    assert shape.status_code == 422 and "max_installments: a whole number" in shape.text
    ok = await client.post("/console/settings/negotiation", data=form)
    assert ok.status_code == 303, ok.text
    stored = (await client.get("/v1/settings/negotiation", headers=merchant.headers)).json()
    assert (
        stored["enabled"], stored["max_installments"], stored["min_installment_amount"],
        stored["cash_discount_percent"], stored["waive_fees"],
    ) == (True, 3, 3000, 10, False)  # fmt: skip

    dunning = await client.post(
        "/console/settings/dunning",
        data={"csrf_token": token, "retry_schedule_hours": "24, 72", "max_attempts": "3",
              "final_action": "explode", "jitter_minutes": "30"},
    )  # fmt: skip
    assert dunning.status_code == 422
    assert "final_action: one of cancel, mark_unpaid, leave_past_due" in dunning.text
    saved = await client.post(
        "/console/settings/dunning",
        data={"csrf_token": token, "retry_schedule_hours": "24, 72", "max_attempts": "3",
              "final_action": "cancel", "jitter_minutes": "30", "payday_shift": "1"},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    policy = (await client.get("/v1/settings/dunning", headers=merchant.headers)).json()
    assert (policy["retry_schedule_hours"], policy["final_action"], policy["payday_shift"]) == (
        [24, 72], "cancel", True,
    )  # fmt: skip

    fees = await client.post(
        "/console/settings/late_fees",
        data={"csrf_token": token, "fee_percent": "5", "monthly_interest_percent": "1",
              "grace_days": "0", "on_time_discount_percent": "0"},
    )  # fmt: skip
    assert fees.status_code == 422 and "<li>fee_percent: " in fees.text  # over the 2 % cap
    assert (await client.get("/console/settings/nope")).status_code == 404


async def test_console_login_needs_the_login_pages_token(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    """Login CSRF: a form posted from another site (no token, or a token without the
    page's cookie) must not log the browser into any console."""
    forged = await client.post("/console/login", data={"api_key": merchant.api_key})
    assert forged.status_code == 403
    assert "console_session" not in forged.cookies
    form = await login_form(client, merchant.api_key)
    client.cookies.delete("console_login")
    replayed = await client.post("/console/login", data=form)
    assert replayed.status_code == 403 and "console_session" not in replayed.cookies
    ok = await client.post("/console/login", data=await login_form(client, merchant.api_key))
    assert ok.status_code == 303 and ok.cookies["console_session"]
