"""Agreements by API: terms per the policy, originals closed as renegotiated, a broken
agreement restores the original debt minus what was paid. Figures computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from tests.conftest import MerchantAccount, new_merchant
from tests.dunning.dunning_seed import Installment, seed_installment

from billing.db import unit_of_work
from billing.invoices.repository import get_invoice
from billing.invoices.settlement import settle_invoice
from billing.kit.clock import FixedClock
from billing.models import Event, Subscription
from billing.negotiation.tasks import sweep
from billing.runtime import Runtime

T0 = datetime(2026, 4, 6, 13, 0, tzinfo=UTC)  # 10:00 in São Paulo
POLICY = {
    "enabled": True,
    "min_days_overdue": 5,
    "max_installments": 3,
    "min_installment_amount": 5000,
    "cash_discount_percent": "10",
    "waive_fees": False,
    "cash_discount_on": "total",
    "break_after_days": 5,
}


async def seed_debt(runtime: Runtime, merchant_id: str) -> tuple[Installment, Installment, str]:
    """A: 100.00 due 40 days ago; B: 150.01 due 10 days ago; C: 50.00 due 2 days ago."""
    async with unit_of_work(runtime.session_factory) as session:
        a = await seed_installment(
            session, merchant_id, due_at=T0 - timedelta(days=40), now=T0, total=10000
        )
        b = await seed_installment(
            session, merchant_id, due_at=T0 - timedelta(days=10), now=T0, total=15001,
            customer_id=a.customer_id,
        )  # fmt: skip
        c = await seed_installment(
            session, merchant_id, due_at=T0 - timedelta(days=2), now=T0, total=5000,
            customer_id=a.customer_id,
        )  # fmt: skip
    return a, b, c.invoice_id


async def put_policy(client: AsyncClient, m: MerchantAccount, **overrides: Any) -> None:
    r = await client.put(
        "/v1/settings/negotiation", json={**POLICY, **overrides}, headers=m.headers
    )
    assert r.status_code == 200, r.text


# Fees as of T0 (2 % fee, 1 %/month pro rata die, defaults):
#   A: fee 200, interest 10000 * 40 / 3000 = 133.33 -> 133
#   B: fee 300.02 -> 300, interest 15001 * 10 / 3000 = 50.003 -> 50
# principal 25001, fees 683; C (2 days) is below min_days_overdue and stays out.


async def test_options_follow_the_policy(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(T0)
    a, b, _ = await seed_debt(runtime, merchant.id)
    await put_policy(client, merchant, min_installment_amount=9000)
    r = await client.get(
        "/v1/agreements/options", params={"customer_id": a.customer_id}, headers=merchant.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["invoice_id"] for i in body["invoices"]] == [a.invoice_id, b.invoice_id]
    assert [(i["amount"], i["fees"]) for i in body["invoices"]] == [(10000, 333), (15001, 350)]
    # 1x: 10 % off 25684 = 2568.4 -> 2568; 2x: 12842 each; 3x: 8562 < 9000 is not offered.
    assert [(o["installments"], o["discount"], o["total"]) for o in body["options"]] == [
        (1, 2568, 23116),
        (2, 0, 25684),
    ]
    assert [s["amount"] for s in body["options"][1]["schedule"]] == [12842, 12842]
    assert body["options"][1]["schedule"][1]["due_at"] == "2026-05-06T13:00:00Z"


async def test_agreement_by_api_closes_originals_and_issues_installments(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(T0)
    a, b, c = await seed_debt(runtime, merchant.id)
    await put_policy(client, merchant)
    h = merchant.headers
    too_many = await client.post(
        "/v1/agreements",
        json={"customer_id": a.customer_id, "installments": 4, "payment_method": "boleto"},
        headers=h,
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "installments"
    r = await client.post(
        "/v1/agreements",
        json={"customer_id": a.customer_id, "installments": 3, "payment_method": "boleto"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    agr = r.json()
    assert agr["id"].startswith("agr_")
    assert agr["status"] == "active"
    assert (agr["principal"], agr["fees"], agr["waived_fees"], agr["discount"]) == (
        25001, 683, 0, 0,
    )  # fmt: skip
    assert agr["total"] == 25684
    # allocate: 25684 / 3 = 8561 r 1, the extra cent on the first.
    assert [p["amount"] for p in agr["installments"]] == [8562, 8561, 8561]
    assert [p["due_at"] for p in agr["installments"]] == [
        "2026-04-06T13:00:00Z", "2026-05-06T13:00:00Z", "2026-06-06T13:00:00Z",
    ]  # fmt: skip
    assert {o["invoice_id"]: o["status"] for o in agr["original_invoices"]} == {
        a.invoice_id: "renegotiated",
        b.invoice_id: "renegotiated",
    }
    first = await client.get(f"/v1/invoices/{agr['installments'][0]['invoice_id']}", headers=h)
    assert first.json()["status"] == "open"
    assert first.json()["collection_method"] == "send_invoice"
    assert first.json()["amount_due"] == 8562
    orig = await client.get(f"/v1/invoices/{a.invoice_id}", headers=h)
    assert (orig.json()["status"], orig.json()["amount_due"]) == ("renegotiated", 0)
    untouched = await client.get(f"/v1/invoices/{c}", headers=h)
    assert untouched.json()["status"] == "open"
    async with unit_of_work(runtime.session_factory) as session:
        sub_a = await session.get(Subscription, a.subscription_id)
        assert sub_a is not None and sub_a.status == "active"  # only debt was in the agreement
    again = await client.post(
        "/v1/agreements",
        json={"customer_id": a.customer_id, "installments": 1, "payment_method": "pix"},
        headers=h,
    )
    assert again.status_code == 409
    other = await new_merchant(runtime, "Outra Loja")
    assert (
        await client.get(f"/v1/agreements/{agr['id']}", headers=other.headers)
    ).status_code == 404
    listed = await client.get("/v1/agreements", params={"customer_id": a.customer_id}, headers=h)
    assert [x["id"] for x in listed.json()["data"]] == [agr["id"]]


async def test_cash_discount_on_fees_and_waived_fees(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(T0)
    a, b, _ = await seed_debt(runtime, merchant.id)
    await put_policy(client, merchant, cash_discount_on="fees", cash_discount_percent="50")
    r = await client.post(
        "/v1/agreements",
        json={"customer_id": a.customer_id, "installments": 1, "payment_method": "pix",
              "invoice_ids": [b.invoice_id]},
        headers=merchant.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    # B only: fees 350, 50 % of them = 175 off: 15001 + 350 - 175.
    assert (r.json()["discount"], r.json()["total"]) == (175, 15176)
    await client.post(f"/v1/agreements/{r.json()['id']}/cancel", headers=merchant.headers)
    await put_policy(client, merchant, waive_fees=True, cash_discount_percent="0")
    w = await client.post(
        "/v1/agreements",
        json={"customer_id": a.customer_id, "installments": 2, "payment_method": "card"},
        headers=merchant.headers,
    )
    assert w.status_code == 201, w.text
    # Canceling restored B (open again); now A + B, fees 683 waived: 25001 in two.
    assert (w.json()["waived_fees"], w.json()["total"]) == (683 + 0, 25001)
    assert [p["amount"] for p in w.json()["installments"]] == [12501, 12500]


async def test_broken_agreement_restores_debt_minus_what_was_paid(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(T0)
    a, b, _ = await seed_debt(runtime, merchant.id)
    await put_policy(client, merchant)
    h = merchant.headers
    agr = (
        await client.post(
            "/v1/agreements",
            json={"customer_id": a.customer_id, "installments": 3, "payment_method": "boleto"},
            headers=h,
        )
    ).json()
    first_id = agr["installments"][0]["invoice_id"]
    clock.set(T0 + timedelta(hours=2))
    async with unit_of_work(runtime.session_factory) as session:
        inv = await get_invoice(session, merchant.id, first_id, for_update=True)
        await settle_invoice(session, inv, amount=8562, late_fee=0, interest=0,
                             payment_id="pay_test", now=clock.now())  # fmt: skip
    # Installment 2 is due 2026-05-06 13:00; 5 days of tolerance are not yet past.
    clock.set(datetime(2026, 5, 11, 12, 0, tzinfo=UTC))
    assert await sweep(runtime.job_context) == {"completed": 0, "broken": 0}
    clock.set(datetime(2026, 5, 11, 14, 0, tzinfo=UTC))
    assert await sweep(runtime.job_context) == {"completed": 0, "broken": 1}
    assert await sweep(runtime.job_context) == {"completed": 0, "broken": 0}  # repeatable
    got = (await client.get(f"/v1/agreements/{agr['id']}", headers=h)).json()
    assert got["status"] == "broken"
    assert [p["status"] for p in got["installments"]] == ["paid", "void", "void"]
    # 8562 paid goes to the oldest original (A, 10000): A owes 1438, B 15001 again.
    assert got["restored_amount"] == 1438 + 15001
    a_now = (await client.get(f"/v1/invoices/{a.invoice_id}", headers=h)).json()
    assert (a_now["status"], a_now["amount_paid"]) == ("open", 8562)
    # Late charges run again from A's own due date (2026-02-25 local), 75 days:
    # fee 2 % of 1438 = 28.76 -> 29; interest 1438 * 75 / 3000 = 35.95 -> 36.
    assert (a_now["late_fee"], a_now["interest"], a_now["amount_due"]) == (29, 36, 1503)
    b_now = (await client.get(f"/v1/invoices/{b.invoice_id}", headers=h)).json()
    assert (b_now["status"], b_now["amount_paid"]) == ("open", 0)
    history = (await client.get(f"/v1/customers/{a.customer_id}/history", headers=h)).json()
    kinds = [(e["type"], e.get("status")) for e in history["data"] if "agreement" in e["type"]]
    assert kinds == [("agreement_ended", "broken"), ("agreement", "broken")]
    ended = next(e for e in history["data"] if e["type"] == "agreement_ended")
    assert ended["restored_amount"] == 16439
    # The agreement had made A's subscription active again; its debt is back, so is past_due.
    async with unit_of_work(runtime.session_factory) as session:
        sub_a = await session.get(Subscription, a.subscription_id)
        assert sub_a is not None and sub_a.status == "past_due"
        reasons = (
            await session.scalars(
                select(Event.data).where(
                    Event.merchant_id == merchant.id, Event.type == "subscription.past_due"
                )
            )
        ).all()
    assert {"subscription_id": a.subscription_id, "invoice_id": a.invoice_id,
            "reason": "agreement_broken"} in reasons  # fmt: skip


async def test_paid_agreement_completes(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(T0)
    a, _, _ = await seed_debt(runtime, merchant.id)
    await put_policy(client, merchant)
    agr = (
        await client.post(
            "/v1/agreements",
            json={"customer_id": a.customer_id, "installments": 1, "payment_method": "pix"},
            headers=merchant.headers,
        )
    ).json()
    # 1x with 10 % off the total: 25684 - 2568 = 23116.
    assert agr["total"] == 23116
    async with unit_of_work(runtime.session_factory) as session:
        inv = await get_invoice(session, merchant.id, agr["installments"][0]["invoice_id"])
        await settle_invoice(session, inv, amount=23116, late_fee=0, interest=0,
                             payment_id="pay_test", now=T0)  # fmt: skip
    assert await sweep(runtime.job_context) == {"completed": 1, "broken": 0}
    got = (await client.get(f"/v1/agreements/{agr['id']}", headers=merchant.headers)).json()
    assert (got["status"], got["amount_paid"]) == ("completed", 23116)
    cancel = await client.post(f"/v1/agreements/{agr['id']}/cancel", headers=merchant.headers)
    assert cancel.status_code == 409
    assert cancel.json()["code"] == "invalid_state_transition"
