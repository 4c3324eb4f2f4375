"""Reports on a seeded history, figures computed by hand; CSV carries the JSON's rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import update
from tests.conftest import MerchantAccount, new_merchant
from tests.dunning.dunning_seed import Installment, seed_installment

from billing.db import unit_of_work
from billing.kit.clock import FixedClock
from billing.kit.ids import new_id
from billing.models import Invoice, PaymentAttempt
from billing.runtime import Runtime

NOW = datetime(2026, 4, 6, 13, 0, tzinfo=UTC)
D = timedelta(days=1)


async def seed(runtime: Runtime, merchant_id: str) -> tuple[str, str]:
    """X owes 100.00 (10 days), 200.00 (45 days), 30.00 left of 50.00 (100 days) and paid
    100.00 and 100.01 on time by card; Y owes 70.00 not yet due and 80.00 (75 days), and
    paid 80.00 two days late (81.60 with fee and interest)."""
    async with unit_of_work(runtime.session_factory) as s:
        x1 = await seed_installment(s, merchant_id, due_at=NOW - 10 * D, now=NOW, total=10000)
        cx = x1.customer_id

        async def inv(cus: str, total: int, due: datetime) -> Installment:
            return await seed_installment(
                s, merchant_id, due_at=due, now=NOW, total=total, customer_id=cus
            )

        await inv(cx, 20000, NOW - 45 * D)
        x3 = await inv(cx, 5000, NOW - 100 * D)
        x4 = await inv(cx, 10000, NOW - 70 * D)
        x5 = await inv(cx, 10001, NOW - 40 * D)
        y1 = await seed_installment(
            s, merchant_id, due_at=NOW + 5 * D, now=NOW, total=7000, email="yuri@example.com"
        )
        cy = y1.customer_id
        await inv(cy, 8000, NOW - 75 * D)
        y3 = await inv(cy, 8000, NOW - 40 * D)
        await s.execute(update(Invoice).where(Invoice.id == x3.invoice_id).values(amount_paid=2000))
        for paid, total, at in ((x4, 10000, NOW - 71 * D), (x5, 10001, NOW - 40 * D),
                                (y3, 8160, NOW - 38 * D)):  # fmt: skip
            await s.execute(
                update(Invoice)
                .where(Invoice.id == paid.invoice_id)
                .values(status="paid", paid_at=at, amount_paid=total, total=total)
            )
            s.add(
                PaymentAttempt(
                    id=new_id("pay"), merchant_id=merchant_id, invoice_id=paid.invoice_id,
                    customer_id=paid.customer_id, payment_method_id=paid.payment_method_id,
                    attempt_number=1, initiated_by="automatic", amount=total, currency="BRL",
                    status="succeeded", idempotency_key=new_id("idem"), attempted_at=at,
                )
            )  # fmt: skip
    return cx, cy


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_reports_on_a_seeded_history(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(NOW)
    cx, cy = await seed(runtime, merchant.id)
    h = merchant.headers

    aging = await client.get("/v1/reports/aging", headers=h)
    assert aging.status_code == 200, aging.text
    assert [(r["bucket"], r["count"], r["amount"]) for r in aging.json()["data"]] == [
        ("current", 1, 7000),
        ("1_30", 1, 10000),
        ("31_60", 1, 20000),
        ("61_90", 1, 8000),
        ("90_plus", 1, 3000),
    ]
    aging_csv = await client.get("/v1/reports/aging?format=csv", headers=h)
    assert aging_csv.headers["content-type"].startswith("text/csv")
    assert rows_of(aging_csv.text) == [
        {k: str(v) for k, v in r.items()} for r in aging.json()["data"]
    ]

    # X: 33000 overdue, oldest 100 days, 2 of 2 paid on time:
    #    13 (33000*40//100000) + 40 (capped) + 0 = 53.
    # Y: 8000 overdue, 75 days, 0 of 1 on time: 3 + 33 (75*40//90) + 20 = 56.
    by = {}
    for sort in ("amount", "days_overdue", "score"):
        r = await client.get(f"/v1/reports/debtors?sort={sort}", headers=h)
        assert r.status_code == 200, r.text
        by[sort] = r.json()["data"]
    assert [(d["customer_id"], d["amount_overdue"], d["days_overdue"], d["score"])
            for d in by["amount"]] == [(cx, 33000, 100, 53), (cy, 8000, 75, 56)]  # fmt: skip
    assert [d["customer_id"] for d in by["days_overdue"]] == [cx, cy]
    assert [d["customer_id"] for d in by["score"]] == [cy, cx]
    as_csv = await client.get("/v1/reports/debtors?sort=score", headers={**h, "Accept": "text/csv"})
    assert rows_of(as_csv.text) == [{k: str(v) for k, v in d.items()} for d in by["score"]]
    bad = await client.get("/v1/reports/debtors?sort=name", headers=h)
    assert bad.status_code == 422
    # Paging walks the same order one row at a time (keyset on the sort key, then id).
    first = (await client.get("/v1/reports/debtors?sort=score&limit=1", headers=h)).json()
    assert ([d["customer_id"] for d in first["data"]], first["has_more"]) == ([cy], True)
    rest = await client.get(
        f"/v1/reports/debtors?sort=score&limit=1&starting_after={cy}", headers=h
    )
    assert ([d["customer_id"] for d in rest.json()["data"]], rest.json()["has_more"]) == (
        [cx], False,
    )  # fmt: skip
    by_days = await client.get(
        f"/v1/reports/debtors?sort=days_overdue&limit=1&starting_after={cx}", headers=h
    )
    assert [d["customer_id"] for d in by_days.json()["data"]] == [cy]
    unknown = await client.get("/v1/reports/debtors?starting_after=cus_nope", headers=h)
    assert unknown.status_code == 422

    mx = (await client.get(f"/v1/reports/customers/{cx}/metrics", headers=h)).json()
    # 10000 + 10001 = 20001 over 2 purchases = 10000.5 -> 10000 (half-even).
    assert mx == {
        "customer_id": cx, "currency": "BRL", "purchases": 2, "lifetime_value": 20001,
        "average_ticket": 10000, "paid_on_time": 2, "share_paid_on_time": "100.00",
        "payment_methods": ["card"],
    }  # fmt: skip
    my = (await client.get(f"/v1/reports/customers/{cy}/metrics", headers=h)).json()
    assert (my["lifetime_value"], my["average_ticket"], my["share_paid_on_time"]) == (
        8160, 8160, "0.00",
    )  # fmt: skip
    my_csv = await client.get(f"/v1/reports/customers/{cy}/metrics?format=csv", headers=h)
    assert rows_of(my_csv.text) == [
        {**{k: str(v) for k, v in my.items()}, "payment_methods": "card"}
    ]

    other = await new_merchant(runtime, "Outra Loja")
    assert (await client.get("/v1/reports/debtors", headers=other.headers)).json()["data"] == []
    missing = await client.get(f"/v1/reports/customers/{cx}/metrics", headers=other.headers)
    assert missing.status_code == 404
