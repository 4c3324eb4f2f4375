"""Billing cycles through the billing run: anchoring, leap years, DST, fixed installments,
proration of plan changes."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from tests.conftest import MerchantAccount
from tests.subscriptions.helpers import bill, get_sub, invoices_of, make_plan, subscribe

from billing.kit.clock import FixedClock
from billing.runtime import Runtime

NY = ZoneInfo("America/New_York")


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_month_end_anchor_over_24_cycles_with_leap_year_and_dst(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount, clock: FixedClock
) -> None:
    patched = await client.patch(
        "/v1/merchant", json={"timezone": "America/New_York"}, headers=merchant.headers
    )
    assert patched.status_code == 200
    clock.set(datetime(2027, 1, 31, 14, 0, tzinfo=UTC))  # 09:00 EST
    plan = await make_plan(client, merchant)
    sub = await subscribe(client, merchant, plan)
    for _ in range(23):
        current = await get_sub(client, merchant, sub["id"])
        clock.set(ts(current["current_period_end"]))
        await bill(runtime)
    invoices = await invoices_of(client, merchant, sub["id"])
    starts = [ts(inv["period_start"]).astimezone(NY) for inv in invoices]
    expected_days = [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30),
        date(2027, 5, 31), date(2027, 6, 30), date(2027, 7, 31), date(2027, 8, 31),
        date(2027, 9, 30), date(2027, 10, 31), date(2027, 11, 30), date(2027, 12, 31),
        date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30),
        date(2028, 5, 31), date(2028, 6, 30), date(2028, 7, 31), date(2028, 8, 31),
        date(2028, 9, 30), date(2028, 10, 31), date(2028, 11, 30), date(2028, 12, 31),
    ]  # fmt: skip
    assert [s.date() for s in starts] == expected_days
    # 09:00 on the merchant's wall clock, winter (EST) and summer (EDT) alike.
    assert {(s.hour, s.minute) for s in starts} == {(9, 0)}
    assert [inv["number"] for inv in invoices] == list(range(1, 25))
    for before, after in itertools.pairwise(invoices):
        assert before["period_end"] == after["period_start"]
    final = await get_sub(client, merchant, sub["id"])
    assert final["cycles_billed"] == 24
    assert ts(final["current_period_end"]).astimezone(NY).date() == date(2029, 1, 31)


async def test_fixed_12_installments_then_the_subscription_ends(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount, clock: FixedClock
) -> None:
    plan = await make_plan(client, merchant, billing_cycles=12, amount=10000)
    sub = await subscribe(client, merchant, plan)
    # Two years later in one jump: the run catches up period by period, then stops.
    clock.set(datetime(2028, 1, 20, tzinfo=UTC))
    await bill(runtime)
    invoices = await invoices_of(client, merchant, sub["id"])
    assert len(invoices) == 12
    assert [inv["number"] for inv in invoices] == list(range(1, 13))
    assert ts(invoices[-1]["period_start"]) == datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
    ended = await get_sub(client, merchant, sub["id"])
    assert ended["status"] == "canceled"
    assert ended["cycles_billed"] == 12
    assert ts(ended["ended_at"]) == datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
    clock.set(datetime(2029, 1, 1, tzinfo=UTC))
    await bill(runtime)
    assert len(await invoices_of(client, merchant, sub["id"])) == 12
    events = (
        await client.get(
            "/v1/events", params={"type": "subscription.canceled"}, headers=merchant.headers
        )
    ).json()["data"]
    assert [e["data"]["subscription_id"] for e in events] == [sub["id"]]


async def test_upgrade_mid_period_invoices_the_prorated_difference(
    client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    basic = await make_plan(client, merchant, name="Basic", amount=3000)
    pro = await make_plan(client, merchant, name="Pro", amount=6000)
    sub = await subscribe(client, merchant, basic)  # Jan 15 12:00 -> Feb 15 12:00 (31 days)
    clock.set(datetime(2026, 1, 25, 12, 0, tzinfo=UTC))  # 21 of 31 days remain
    response = await client.post(
        f"/v1/subscriptions/{sub['id']}/change_plan",
        json={"plan_id": pro["id"], "proration": "create_prorations"},
        headers=merchant.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["plan_id"] == pro["id"]
    assert response.json()["current_period_end"] == sub["current_period_end"]
    invoices = await invoices_of(client, merchant, sub["id"])
    assert len(invoices) == 2
    proration = invoices[1]
    # 3000 * 21/31 = 2032.26 -> 2032 ; 6000 * 21/31 = 4064.52 -> 4065
    assert [(line["kind"], line["amount"]) for line in proration["lines"]] == [
        ("proration", -2032),
        ("proration", 4065),
    ]
    assert proration["total"] == 2033
    assert sum(line["amount"] for line in proration["lines"]) == proration["total"]


async def test_downgrade_credit_is_taken_off_the_next_invoice(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount, clock: FixedClock
) -> None:
    basic = await make_plan(client, merchant, name="Basic", amount=3000)
    pro = await make_plan(client, merchant, name="Pro", amount=6000)
    sub = await subscribe(client, merchant, pro)
    clock.set(datetime(2026, 1, 25, 12, 0, tzinfo=UTC))
    response = await client.post(
        f"/v1/subscriptions/{sub['id']}/change_plan",
        json={"plan_id": basic["id"]},
        headers=merchant.headers,
    )
    assert response.status_code == 200
    # credit 6000*21/31 = 4065, charge 3000*21/31 = 2032: the payer is owed 2033.
    assert response.json()["pending_credit"] == 2033
    assert len(await invoices_of(client, merchant, sub["id"])) == 1
    clock.set(datetime(2026, 2, 15, 12, 0, tzinfo=UTC))
    await bill(runtime)
    renewal = (await invoices_of(client, merchant, sub["id"]))[-1]
    assert [(line["kind"], line["amount"]) for line in renewal["lines"]] == [
        ("subscription", 3000),
        ("proration", -2033),
    ]
    assert renewal["total"] == 967
    assert (await get_sub(client, merchant, sub["id"]))["pending_credit"] == 0


async def test_change_plan_without_proration_switches_at_once(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount, clock: FixedClock
) -> None:
    basic = await make_plan(client, merchant, name="Basic", amount=3000)
    pro = await make_plan(client, merchant, name="Pro", amount=6000)
    sub = await subscribe(client, merchant, basic)
    clock.set(datetime(2026, 1, 25, 12, 0, tzinfo=UTC))
    response = await client.post(
        f"/v1/subscriptions/{sub['id']}/change_plan",
        json={"plan_id": pro["id"], "proration": "none"},
        headers=merchant.headers,
    )
    assert response.json()["plan_id"] == pro["id"]
    assert len(await invoices_of(client, merchant, sub["id"])) == 1
    clock.set(datetime(2026, 2, 15, 12, 0, tzinfo=UTC))
    await bill(runtime)
    assert (await invoices_of(client, merchant, sub["id"]))[-1]["total"] == 6000


async def test_overdue_invoice_shows_late_fee_and_interest_as_of_now(
    client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    plan = await make_plan(client, merchant)
    sub = await subscribe(client, merchant, plan, days_until_due=3)
    [invoice] = await invoices_of(client, merchant, sub["id"])
    assert invoice["late_fee"] == invoice["interest"] == 0
    clock.set(ts(invoice["due_at"]) + timedelta(days=10))
    overdue = (await client.get(f"/v1/invoices/{invoice['id']}", headers=merchant.headers)).json()
    # 2 % of 99.90 = 2.00 (199.8 rounded) ; 1 %/month pro rata die: 9990 * 10 / 3000 = 33.3
    assert overdue["late_fee"] == 200
    assert overdue["interest"] == 33
    assert overdue["amount_due"] == 9990 + 200 + 33
    assert overdue["total"] == 9990
    voided = await client.post(f"/v1/invoices/{invoice['id']}/void", headers=merchant.headers)
    assert voided.status_code == 200
    assert voided.json()["status"] == "void"
    assert voided.json()["amount_due"] == 0
    again = await client.post(f"/v1/invoices/{invoice['id']}/void", headers=merchant.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_state_transition"
    listed = await client.get(
        "/v1/invoices",
        params={"customer_id": sub["customer_id"], "status": "void"},
        headers=merchant.headers,
    )
    assert [inv["id"] for inv in listed.json()["data"]] == [invoice["id"]]
