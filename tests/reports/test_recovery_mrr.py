"""Recovery by channel and MRR/churn on a seeded history; figures computed by hand.

The merchant is in America/Sao_Paulo (UTC-3), so months start at 03:00 UTC."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import MerchantAccount, new_merchant
from tests.dunning.dunning_seed import Installment, add_attempt, seed_installment

from billing.db import unit_of_work
from billing.kit.clock import FixedClock
from billing.kit.ids import new_id
from billing.models import (
    Agreement,
    AgreementInvoice,
    CollectionMessage,
    Customer,
    Event,
    Invoice,
    Plan,
    Subscription,
)
from billing.runtime import Runtime

NOW = datetime(2026, 4, 6, 13, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def as_text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in r.items()} for r in rows]


async def paid(s: AsyncSession, inst: Installment, when: datetime, amount: int) -> None:
    await s.execute(
        update(Invoice)
        .where(Invoice.id == inst.invoice_id)
        .values(status="paid", paid_at=when, amount_paid=amount, total=amount)
    )


async def success(s: AsyncSession, inst: Installment, *, number: int, at: datetime,
                  initiated_by: str = "automatic") -> None:  # fmt: skip
    await add_attempt(s, inst, number=number, at=at, status="succeeded", initiated_by=initiated_by)
    # The helper counts every attempt; payments/outcomes.py counts only failures.
    await s.execute(
        update(Invoice)
        .where(Invoice.id == inst.invoice_id)
        .values(attempt_count=Invoice.attempt_count - 1)
    )


async def message(s: AsyncSession, inst: Installment, sent: datetime, key: str) -> None:
    s.add(
        CollectionMessage(
            id=new_id("msg"), merchant_id=inst.merchant_id, customer_id=inst.customer_id,
            invoice_id=inst.invoice_id, step_key=key, offset_days=3, channel="email",
            template="overdue", tone="neutral", status="sent", scheduled_at=sent,
            deliver_at=sent, attempts=1, sent_at=sent, created_at=sent,
        )
    )  # fmt: skip
    await s.flush()


async def seed_recovery(runtime: Runtime, merchant_id: str) -> None:
    other = await new_merchant(runtime, "Outra Loja")
    async with unit_of_work(runtime.session_factory) as s:

        async def inst(due: datetime, mid: str = merchant_id) -> Installment:
            return await seed_installment(s, mid, due_at=due, now=NOW)

        # A: failed, then a scheduled retry succeeded (January).
        a = await inst(at(1, 5))
        await add_attempt(s, a, number=1, at=at(1, 5))
        await success(s, a, number=2, at=at(1, 8), initiated_by="retry")
        await paid(s, a, at(1, 8), 10000)
        # B: message on Jan 15, payer paid in the portal 3 days later: ruler message.
        b = await inst(at(1, 10))
        await message(s, b, at(1, 15), "+5:email")
        await success(s, b, number=1, at=at(1, 18), initiated_by="payer")
        await paid(s, b, at(1, 18), 10200)
        # C: last message 19 days before the payer paid in the portal: portal. Paid at
        # 02:00 UTC on Feb 1 = 23:00 on Jan 31 in São Paulo: January.
        c = await inst(at(1, 10))
        await message(s, c, at(1, 12), "+2:email")
        await success(s, c, number=1, at=at(2, 1, 2), initiated_by="payer")
        await paid(s, c, at(2, 1, 2), 10300)
        # D: an agreement installment paid on its due date: agreement (February).
        d = await inst(at(2, 10))
        s.add(
            Agreement(
                id=new_id("agr"), merchant_id=merchant_id, customer_id=d.customer_id,
                status="active", source="api", payment_method="pix", currency="BRL",
                installment_count=1, principal=5000, fees=0, waived_fees=0, discount=0,
                total=5000, restored_amount=0, break_after_days=5, created_at=at(2, 1),
            )
        )  # fmt: skip
        await s.flush()
        agr_id = (await s.execute(Agreement.__table__.select())).first().id  # type: ignore[union-attr]
        s.add(
            AgreementInvoice(
                agreement_id=agr_id, invoice_id=d.invoice_id, merchant_id=merchant_id,
                role="installment", seq=1, amount=5000,
            )
        )  # fmt: skip
        await paid(s, d, at(2, 10), 5000)
        # E: charged by the merchant's API 2 days after a message: other (February).
        e = await inst(at(2, 1))
        await message(s, e, at(2, 18), "+17:email")
        await success(s, e, number=1, at=at(2, 20), initiated_by="merchant")
        await paid(s, e, at(2, 20), 10400)
        # F: paid on time at the first try: not recovered.
        f = await inst(at(2, 5))
        await success(s, f, number=1, at=at(2, 4))
        await paid(s, f, at(2, 4), 10000)
        # G: retry in March.
        g = await inst(at(3, 1))
        await add_attempt(s, g, number=1, at=at(3, 1))
        await success(s, g, number=2, at=at(3, 3), initiated_by="retry")
        await paid(s, g, at(3, 3), 9900)
        # H: a retry in April, outside the range asked for.
        h = await inst(at(3, 30))
        await add_attempt(s, h, number=1, at=at(3, 30))
        await success(s, h, number=2, at=at(4, 2), initiated_by="retry")
        await paid(s, h, at(4, 2), 8800)
        # I: a boleto paid late with no attempt recorded, 2 days after a message: ruler.
        i = await inst(at(3, 10))
        await message(s, i, at(3, 20), "+10:email")
        await paid(s, i, at(3, 22), 7000)
        # Another merchant's retry: never in this merchant's report.
        j = await inst(at(1, 5), other.id)
        await add_attempt(s, j, number=1, at=at(1, 5))
        await success(s, j, number=2, at=at(1, 8), initiated_by="retry")
        await paid(s, j, at(1, 8), 99999)


def zero_row(period: str) -> dict[str, Any]:
    row: dict[str, Any] = {"period_start": period}
    for ch in ("automatic_retry", "ruler_message", "portal", "agreement", "other"):
        row[f"{ch}_count"], row[f"{ch}_amount"] = 0, 0
    return row


async def test_recovery_by_channel_per_month(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(NOW)
    await seed_recovery(runtime, merchant.id)
    url = "/v1/reports/recovery?interval=month&from=2026-01-01&to=2026-03-31"
    r = await client.get(url, headers=merchant.headers)
    assert r.status_code == 200, r.text
    jan, feb, mar = zero_row("2026-01-01"), zero_row("2026-02-01"), zero_row("2026-03-01")
    jan.update(automatic_retry_count=1, automatic_retry_amount=10000, ruler_message_count=1,
               ruler_message_amount=10200, portal_count=1, portal_amount=10300,
               total_count=3, total_amount=30500)  # fmt: skip
    feb.update(agreement_count=1, agreement_amount=5000, other_count=1, other_amount=10400,
               total_count=2, total_amount=15400)  # fmt: skip
    mar.update(automatic_retry_count=1, automatic_retry_amount=9900, ruler_message_count=1,
               ruler_message_amount=7000, total_count=2, total_amount=16900)  # fmt: skip
    assert r.json()["data"] == [jan, feb, mar]

    as_csv = await client.get(url, headers={**merchant.headers, "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert rows_of(as_csv.text) == as_text(r.json()["data"])

    # A 30-day attribution window reaches back to C's message of Jan 12 (19 days).
    wide = await client.get(url + "&attribution_days=30", headers=merchant.headers)
    assert wide.json()["data"][0]["ruler_message_count"] == 2
    assert wide.json()["data"][0]["portal_count"] == 0
    bad = await client.get(url + "&interval=year", headers=merchant.headers)
    assert bad.status_code == 422


async def seed_subscriptions(runtime: Runtime, merchant_id: str) -> None:
    async with unit_of_work(runtime.session_factory) as s:
        cus = Customer(
            id=new_id("cus"), merchant_id=merchant_id, email="ana@example.com", name="Ana",
            phone=None, locale="pt-BR", metadata_={}, created_at=at(1, 1, year=2025),
            gateway_customer_ref=None, is_business=False,
        )  # fmt: skip
        s.add(cus)
        plans: dict[str, str] = {}
        for key, amount, interval, count in (
            ("M", 10000, "month", 1), ("Y", 120000, "year", 1), ("W", 3000, "week", 1),
            ("D", 100, "day", 1), ("Q", 30000, "month", 3),
        ):  # fmt: skip
            plans[key] = new_id("plan")
            s.add(
                Plan(
                    id=plans[key], merchant_id=merchant_id, name=key, amount=amount,
                    currency="BRL", interval=interval, interval_count=count, trial_days=0,
                    active=True, metadata_={}, created_at=at(1, 1, year=2025),
                )
            )  # fmt: skip
        await s.flush()

        async def sub(
            plan: str, created: datetime, status: str = "active", *,
            trial_end: datetime | None = None, ended: datetime | None = None,
            event: tuple[str, datetime, str | None] | None = None,
        ) -> None:  # fmt: skip
            sid = new_id("sub")
            s.add(
                Subscription(
                    id=sid, merchant_id=merchant_id, customer_id=cus.id, plan_id=plans[plan],
                    status=status, collection_method="charge_automatically",
                    days_until_due=3, anchor_at=created, period_index=0,
                    current_period_start=created, current_period_end=created,
                    trial_end=trial_end, cancel_at_period_end=False, canceled_at=ended,
                    ended_at=ended, cycles_billed=1, created_at=created,
                )
            )  # fmt: skip
            if event is not None:
                kind, when, reason = event
                data = {"subscription_id": sid, "status": kind}
                if reason:
                    data["reason"] = reason
                s.add(
                    Event(
                        id=new_id("evt"), merchant_id=merchant_id,
                        type=f"subscription.{kind}", data=data, created_at=when,
                    )
                )  # fmt: skip
            await s.flush()

        # Before January: s1, s2, s7 (30000 of MRR, 3 subscriptions).
        await sub("M", at(12, 10, year=2025))
        await sub("Y", at(11, 1, year=2025), "canceled", ended=at(1, 20),
                  event=("canceled", at(1, 20), None))  # fmt: skip
        await sub("W", at(1, 5))  # 3000 * 52 / 12 = 13000
        await sub("M", at(2, 3), "unpaid", trial_end=at(2, 17),
                  event=("unpaid", at(3, 10), "payment_retries_exhausted"))  # fmt: skip
        await sub("Q", at(2, 10), "canceled", ended=at(3, 15),
                  event=("canceled", at(3, 15), "payment_retries_exhausted"))  # fmt: skip
        await sub("D", at(3, 1))  # 100 * 30.4375 = 3043.75
        await sub("M", at(10, 1, year=2025), "canceled", ended=at(2, 1),
                  event=("canceled", at(2, 1), "billing_cycles_completed"))  # fmt: skip
        # Canceled during its trial: never paid, never counted.
        await sub("M", at(1, 10), "canceled", trial_end=at(1, 24), ended=at(1, 20),
                  event=("canceled", at(1, 20), None))  # fmt: skip


async def test_mrr_and_churn_per_month(
    runtime: Runtime, client: AsyncClient, merchant: MerchantAccount, clock: FixedClock
) -> None:
    clock.set(NOW)
    await seed_subscriptions(runtime, merchant.id)
    other = await new_merchant(runtime, "Outra Loja")
    await seed_subscriptions(runtime, other.id)  # proves scoping: figures would double
    url = "/v1/reports/mrr?from=2026-01-01&to=2026-03-31"
    r = await client.get(url, headers=merchant.headers)
    assert r.status_code == 200, r.text
    cols = ("period_start", "mrr_start", "new_count", "new_mrr", "churned_voluntary_count",
            "churned_voluntary_mrr", "churned_involuntary_count", "churned_involuntary_mrr",
            "ended_count", "ended_mrr", "mrr", "active_subscriptions", "churn_rate")  # fmt: skip
    expected = [
        # Jan: +W 13000; Y (120000/12) canceled voluntarily; 1 of 3 churned.
        ("2026-01-01", 30000, 1, 13000, 1, 10000, 0, 0, 0, 0, 33000, 3, "33.33"),
        # Feb: +M (paying from its trial's end) +Q (30000/3); the fixed-term M ended.
        ("2026-02-01", 33000, 2, 20000, 0, 0, 0, 0, 1, 10000, 43000, 4, "0.00"),
        # Mar: +D 3043.75 -> 3044; M went unpaid, Q canceled by dunning: 2 of 4 churned;
        # 43000 + 3043.75 - 20000 = 26043.75 -> 26044.
        ("2026-03-01", 43000, 1, 3044, 0, 0, 2, 20000, 0, 0, 26044, 3, "50.00"),
    ]
    assert [tuple(row[c] for c in cols) for row in r.json()["data"]] == expected
    as_csv = await client.get(url + "&format=csv", headers=merchant.headers)
    assert rows_of(as_csv.text) == as_text(r.json()["data"])
