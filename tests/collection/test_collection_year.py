"""THE SCENARIO (issue 5, "Done when"): a year on the simulated clock, driven only through
the API and ``POST /v1/test_helpers/advance_clock``, with e-mail read back from aiosmtpd."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from tests.collection.conftest import Smtp
from tests.conftest import Database, app_client, new_merchant, settings_for

from billing.kit.clock import SimulatedClock
from billing.queue import InlineDispatcher
from billing.runtime import Runtime, build_runtime

pytestmark = pytest.mark.slow
SP = ZoneInfo("America/Sao_Paulo")
T0 = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # Monday 10:00 in São Paulo
H = timedelta(hours=1)
D = timedelta(days=1)

TOKENS = {
    # token: (decline_type of the first charge, retried automatically?)
    "pm_card_chargeDeclined": ("soft", True),
    "pm_card_chargeDeclinedInsufficientFunds": ("soft", True),
    "pm_card_chargeDeclinedProcessingError": ("soft", True),
    "pm_card_chargeDeclinedExpiredCard": ("hard", False),
    "pm_card_chargeDeclinedLostCard": ("hard", False),
    "pm_card_chargeDeclinedStolenCard": ("hard", False),
    "pm_card_chargeDeclinedFraudulent": ("hard", False),
    "pm_card_authenticationRequired": ("authentication_required", False),
    "pm_card_insufficientFundsTimes2": ("soft", True),
    "pm_card_visa": (None, False),
}


@pytest.fixture
async def year_runtime(fresh_database: Database, smtp: Smtp) -> AsyncIterator[Runtime]:
    dispatcher = InlineDispatcher()
    settings = settings_for(
        fresh_database, clock="simulated", smtp_host=smtp.host, smtp_port=smtp.port,
        smtp_from="cobranca@academiaforte.com.br",
    )  # fmt: skip
    rt = await build_runtime(settings, dispatcher=dispatcher, clock=SimulatedClock(T0))
    dispatcher.ctx = rt.job_context
    yield rt
    await rt.close()


async def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _sent_at(message: EmailMessage) -> datetime:
    return parsedate_to_datetime(str(message["Date"]))


async def test_a_year_of_collections(year_runtime: Runtime, smtp: Smtp) -> None:
    merchant = await new_merchant(year_runtime)
    h = merchant.headers
    client: AsyncClient
    async with app_client(year_runtime) as client:
        await _ok(await client.patch("/v1/merchant", headers=h, json={
            "legal_name": "Academia Forte Ltda", "document": "11.222.333/0001-81",
            "support_email": "ajuda@academiaforte.com.br", "support_phone": "+55 11 4000-1234",
        }))  # fmt: skip
        await _ok(await client.put("/v1/settings/dunning", headers=h, json={
            "retry_schedule_hours": [24, 72, 120, 168], "max_attempts": 5,
            "final_action": "cancel", "jitter_minutes": 0,
        }))  # fmt: skip
        plan = await _ok(await client.post("/v1/plans", headers=h, json={
            "name": "Plano Pro", "amount": 10000, "currency": "BRL", "interval": "month",
        }), 201)  # fmt: skip
        subs: dict[str, dict[str, Any]] = {}
        emails: dict[str, str] = {}
        for i, token in enumerate(TOKENS):
            email = f"payer{i}@example.com"
            customer = await _ok(await client.post("/v1/customers", headers=h, json={
                "email": email, "name": f"Pagador {i}",
            }), 201)  # fmt: skip
            await _ok(await client.post(
                f"/v1/customers/{customer['id']}/payment_methods", headers=h,
                json={"token": token},
            ), 201)  # fmt: skip
            subs[token] = await _ok(await client.post("/v1/subscriptions", headers=h, json={
                "customer_id": customer["id"], "plan_id": plan["id"],
            }), 201)  # fmt: skip
            emails[token] = email

        async def first_invoice(token: str) -> dict[str, Any]:
            listed = await _ok(await client.get(
                f"/v1/invoices?subscription_id={subs[token]['id']}&limit=100", headers=h
            ))  # fmt: skip
            return min(listed["data"], key=lambda inv: inv["number"])

        async def attempts(token: str) -> list[dict[str, Any]]:
            inv = await first_invoice(token)
            listed = await _ok(await client.get(f"/v1/payments?invoice_id={inv['id']}", headers=h))
            return sorted(listed["data"], key=lambda a: a["attempted_at"])

        async def advance(to: datetime) -> None:
            await _ok(await client.post(
                "/v1/test_helpers/advance_clock", headers=h, json={"to": to.isoformat()}
            ))  # fmt: skip

        # Declines with each test token, classified.
        for token, (decline_type, _) in TOKENS.items():
            first = (await attempts(token))[0]
            assert first["decline_type"] == decline_type, token
            expected = "active" if decline_type is None else "past_due"
            assert subs[token]["status"] == expected, token

        # Retries at the scheduled times, to the hour (10:00 São Paulo, business days).
        await advance(T0 + 23 * H)
        assert len(await attempts("pm_card_chargeDeclined")) == 1
        await advance(T0 + 7 * D + 2 * H)
        soft = await attempts("pm_card_chargeDeclined")
        assert [_iso(a["attempted_at"]) for a in soft] == [
            T0, T0 + 24 * H, T0 + 72 * H,
            datetime(2026, 3, 9, 12, tzinfo=UTC),  # +120 h is Saturday: Monday 09:00
            T0 + 168 * H,
        ]  # fmt: skip
        assert all(a["status"] == "failed" for a in soft)
        # Recovery: pm_card_insufficientFundsTimes2 declines twice, then pays at +72 h.
        recovered = await attempts("pm_card_insufficientFundsTimes2")
        assert [a["status"] for a in recovered] == ["failed", "failed", "succeeded"]
        assert _iso(recovered[-1]["attempted_at"]) == T0 + 72 * H
        paid = await first_invoice("pm_card_insufficientFundsTimes2")
        assert paid["status"] == "paid"
        # Hard and authentication declines are never retried automatically.
        for token, (_, retried) in TOKENS.items():
            if not retried:
                assert len(await attempts(token)) == 1, token

        # Exhaustion: the fifth failure took the final action (cancel).
        sub = await _ok(await client.get(
            f"/v1/subscriptions/{subs['pm_card_chargeDeclined']['id']}", headers=h
        ))  # fmt: skip
        assert sub["status"] == "canceled"

        # The rest of the year.
        await advance(T0 + 365 * D)

        # Hard declines took the final action when the schedule would have ended.
        sub = await _ok(await client.get(
            f"/v1/subscriptions/{subs['pm_card_chargeDeclinedStolenCard']['id']}", headers=h
        ))  # fmt: skip
        assert sub["status"] == "canceled"
        assert _iso(sub["canceled_at"]) == T0 + 168 * H

        # Ruler e-mails: right tone on the right day, none in quiet hours or after payment.
        for message in smtp.inbox.messages:
            local = _sent_at(message).astimezone(SP)
            assert 8 <= local.hour < 20, (message["To"], local)
        generic = smtp.inbox.to(emails["pm_card_chargeDeclined"])
        first_four = [(_sent_at(m), m["Subject"].split(" · ")[0]) for m in generic[:4]]
        # D+1, D+3 and D+7 coincide with a retry at 10:00: the message waits for its
        # outcome (15 minutes); D+15 comes after the retries, at 10:00 sharp.
        after_retry = timedelta(minutes=15)
        assert first_four == [
            (T0 + 1 * D + after_retry, "Não conseguimos cobrar seu cartão"),  # friendly
            (T0 + 3 * D + after_retry, "Sua parcela está em aberto"),  # overdue friendly
            (T0 + 7 * D + after_retry, f"Parcela vencida em {paid_due_date(T0)}"),  # firm
            (T0 + 15 * D, "Aviso final: o serviço poderá ser suspenso"),  # final
        ]
        stolen = smtp.inbox.to(emails["pm_card_chargeDeclinedStolenCard"])[0]
        body = stolen.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "não autorizou" in body  # asked for another method, in plain words
        recovered_mail = smtp.inbox.to(emails["pm_card_insufficientFundsTimes2"])
        assert all(_sent_at(m) < _iso(paid["paid_at"]) for m in recovered_mail)
        assert smtp.inbox.to(emails["pm_card_visa"]) == []

        # History complete and ordered.
        customer_id = subs["pm_card_chargeDeclined"]["customer_id"]
        history = await _ok(await client.get(
            f"/v1/customers/{customer_id}/history?limit=100", headers=h
        ))  # fmt: skip
        entries = history["data"]
        times = [e["occurred_at"] for e in entries]
        assert times == sorted(times, reverse=True)
        kinds = {e["type"] for e in entries}
        assert {"invoice", "payment_attempt", "message", "dunning"} <= kinds
        assert sum(e["type"] == "payment_attempt" for e in entries) == 5
        sent = [e for e in entries if e["type"] == "message" and e["status"] == "sent"]
        assert len(sent) == len(generic)


async def test_late_fee_worked_example_paid_five_days_late(year_runtime: Runtime) -> None:
    """R$ 100,00 paid 5 days late at 2 % + 1 %/month: 100,00 + 2,00 + 0,17 = R$ 102,17."""
    merchant = await new_merchant(year_runtime)
    h = merchant.headers
    async with app_client(year_runtime) as client:
        await _ok(await client.put("/v1/settings/late_fees", headers=h, json={
            "fee_percent": 2, "monthly_interest_percent": 1, "grace_days": 0,
            "on_time_discount_percent": 0,
        }))  # fmt: skip
        # One retry, 120 h after the failure: Monday 10:00 -> Saturday, so start Wednesday.
        start = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)
        await _ok(await client.put("/v1/settings/dunning", headers=h, json={
            "retry_schedule_hours": [120], "max_attempts": 2, "jitter_minutes": 0,
        }))  # fmt: skip
        await _ok(await client.post(
            "/v1/test_helpers/advance_clock", headers=h, json={"to": start.isoformat()}
        ))  # fmt: skip
        plan = await _ok(await client.post("/v1/plans", headers=h, json={
            "name": "Plano Pro", "amount": 10000, "currency": "BRL", "interval": "year",
        }), 201)  # fmt: skip
        customer = await _ok(await client.post("/v1/customers", headers=h, json={
            "email": "late@example.com", "name": "Paga Atrasado",
        }), 201)  # fmt: skip
        await _ok(await client.post(
            f"/v1/customers/{customer['id']}/payment_methods", headers=h,
            json={"token": "pm_card_insufficientFundsTimes1"},
        ), 201)  # fmt: skip
        sub = await _ok(await client.post("/v1/subscriptions", headers=h, json={
            "customer_id": customer["id"], "plan_id": plan["id"],
        }), 201)  # fmt: skip
        assert sub["status"] == "past_due"
        await _ok(await client.post(
            "/v1/test_helpers/advance_clock", headers=h,
            json={"to": (start + 6 * D).isoformat()},
        ))  # fmt: skip
        [invoice] = (await _ok(await client.get(
            f"/v1/invoices?subscription_id={sub['id']}", headers=h
        )))["data"]  # fmt: skip
        assert invoice["status"] == "paid"
        assert _iso(invoice["paid_at"]) == start + 5 * D
        assert (invoice["late_fee"], invoice["interest"]) == (200, 17)
        assert invoice["amount_paid"] == 10217


def paid_due_date(t: datetime) -> str:
    months = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto",
              "setembro", "outubro", "novembro", "dezembro"]  # fmt: skip
    local = t.astimezone(SP)
    return f"{local.day} de {months[local.month - 1]} de {local.year}"
