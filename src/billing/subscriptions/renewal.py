"""The billing run: renew every subscription whose period has ended, in batches.

Per batch, one transaction and a handful of set-based statements: select the due rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several workers share the run; SQLite's
``BEGIN IMMEDIATE`` already serializes writers), take the invoice numbers, insert the
invoices, their lines and their events, and advance the subscriptions. The unique
``(subscription_id, period_start)`` makes a repeated or interrupted run bill nothing twice,
and an error anywhere in a batch rolls all of it back: no invoice without its advance.
A subscription several periods behind is renewed once per pass until it is current.

On PostgreSQL a batch is two statements (renewal_pg): select and lock the due rows, then
one statement that numbers, inserts and advances everything. Python only computes the
next period ends, which must follow periods.py to the microsecond (merchant's zone, DST).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, bindparam, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.db import is_postgres, unit_of_work
from billing.invoices.numbering import take_numbers
from billing.invoices.service import CHARGE_JOB, charge_job_id
from billing.jobs import enqueue_after_commit
from billing.kit.clock import Clock
from billing.models import Event, Invoice, InvoiceLine, Merchant, Plan, Subscription
from billing.subscriptions import renewal_pg
from billing.subscriptions.periods import Interval, local_to_utc, period_boundary
from billing.subscriptions.renewal_pg import bulk_ids
from billing.subscriptions.state import RENEWING, SUBSCRIPTION

DEFAULT_BATCH = 1000

S = cast(Table, Subscription.__table__)
INVOICES = cast(Table, Invoice.__table__)
LINES = cast(Table, InvoiceLine.__table__)
EVENTS = cast(Table, Event.__table__)

# Test seam: called with a stage name inside the batch's transaction ("invoices_inserted").
Checkpoint = Callable[[str], None]


@dataclass
class RunResult:
    batches: int = 0
    renewed: int = 0
    ended: int = 0
    invoices_created: int = 0
    charges_enqueued: int = 0
    invoice_ids: list[str] = field(default_factory=list)

    def add(self, other: RunResult) -> None:
        self.batches += other.batches
        self.renewed += other.renewed
        self.ended += other.ended
        self.invoices_created += other.invoices_created
        self.charges_enqueued += other.charges_enqueued
        self.invoice_ids.extend(other.invoice_ids)


def _due_query(now: datetime, limit: int) -> Any:
    query = (
        select(
            S.c.id,
            S.c.merchant_id,
            S.c.customer_id,
            S.c.status,
            S.c.collection_method,
            S.c.days_until_due,
            S.c.anchor_at,
            S.c.period_index,
            S.c.current_period_end,
            S.c.cancel_at_period_end,
            S.c.cycles_billed,
            S.c.pending_credit,
            Plan.amount,
            Plan.currency,
            Plan.interval,
            Plan.interval_count,
            Plan.billing_cycles,
            Plan.name,
            Merchant.timezone,
        )
        .join(Plan, Plan.id == S.c.plan_id)
        .join(Merchant, Merchant.id == S.c.merchant_id)
        .where(S.c.status.in_(RENEWING), S.c.current_period_end <= now)
        .order_by(S.c.current_period_end)
        .limit(limit)
    )
    # No row locks: SQLite's BEGIN IMMEDIATE already makes this batch the only writer.
    return query


def _event(merchant_id: str, type: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "id": "",  # filled for the whole batch at once (renewal_pg.bulk_ids)
        "merchant_id": merchant_id,
        "type": type,
        "data": data,
        "created_at": now,
        "dispatched_at": None,
    }


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _period_start_fast(
    anchor: datetime, interval: str, interval_count: int, n: int, zone: ZoneInfo, tz: str
) -> datetime:
    """``period_boundary(anchor, interval, interval_count, n, tz)``, same result, ~4x faster.

    The billing run computes one per subscription (16 µs each through the general function:
    validation, ``calendar.monthrange``, two zone look-ups). Here the zone is resolved once
    per batch and the common case is a few C-level datetime calls; a wall time in a DST gap,
    or anything unusual, goes to periods.py itself."""
    if n < 1 or interval_count < 1:
        return period_boundary(anchor, cast(Interval, interval), interval_count, n, tz)
    # to_local: keeps fold, as periods.to_local does (arithmetic below resets or keeps it
    # exactly as add_months / timedelta do there).
    wall = anchor.astimezone(zone).replace(tzinfo=None)
    steps = n * interval_count
    if interval == "month" or interval == "year":
        months = steps * 12 if interval == "year" else steps
        year, month0 = divmod(wall.year * 12 + wall.month - 1 + months, 12)
        last = _DAYS_IN_MONTH[month0]
        if month0 == 1 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
            last = 29
        wall = wall.replace(year=year, month=month0 + 1, day=min(wall.day, last))
    elif interval == "day":
        wall = wall + timedelta(days=steps)
    elif interval == "week":
        wall = wall + timedelta(weeks=steps)
    else:
        return period_boundary(anchor, cast(Interval, interval), interval_count, n, tz)
    # local_to_utc: the first occurrence of the wall time; if it does not survive the round
    # trip it lies in a spring-forward gap, which periods.py resolves.
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != wall:
        return local_to_utc(wall.replace(fold=0), tz)
    return first


async def _renew_batch_pg(
    session: AsyncSession, now: datetime, limit: int, checkpoint: Checkpoint | None
) -> tuple[RunResult, int]:
    rows: list[Any] = []
    claimed = await renewal_pg.claim_merchants(session, now, limit)
    if claimed:
        params = {"now": now, "limit": limit, "merchant_ids": claimed}
        rows = list((await session.execute(renewal_pg.DUE_CLAIMED_SQL, params)).all())
    if not rows:
        # Every due merchant is another worker's right now (or its rows are locked): take
        # any due rows and wait for the numbers like any other invoice writer.
        rows = list((await session.execute(renewal_pg.DUE_SQL, {"now": now, "limit": limit})).all())
    if not rows:
        return RunResult(), 0
    result = RunResult(batches=1)
    zones: dict[str, ZoneInfo] = {}
    sub_ids: list[str] = []
    period_ends: list[datetime] = []
    statuses: list[str] = []
    endings: list[dict[str, Any]] = []
    ending_events: list[dict[str, Any]] = []
    for (
        sub_id,
        status,
        anchor_at,
        period_index,
        period_start,
        cancel_at_period_end,
        cycles_billed,
        billing_cycles,
        interval,
        interval_count,
        tz,
        merchant_id,
        customer_id,
    ) in rows:
        if cancel_at_period_end or (billing_cycles is not None and cycles_billed >= billing_cycles):
            SUBSCRIPTION.check(status, "canceled")
            endings.append({"b_id": sub_id, "b_ended_at": period_start})
            ending_events.append(
                _event(
                    merchant_id,
                    "subscription.canceled",
                    {
                        "subscription_id": sub_id,
                        "customer_id": customer_id,
                        "status": "canceled",
                        "reason": "cancel_at_period_end"
                        if cancel_at_period_end
                        else "billing_cycles_completed",
                    },
                    now,
                )
            )
            continue
        zone = zones.get(tz)
        if zone is None:
            zone = zones[tz] = ZoneInfo(tz)
        sub_ids.append(sub_id)
        # The renewed period is period_index + 1; it ends where period_index + 2 starts.
        period_ends.append(
            _period_start_fast(anchor_at, interval, interval_count, period_index + 2, zone, tz)
        )
        statuses.append(SUBSCRIPTION.check(status, "active") if status == "trialing" else status)

    # One call, so every event id of the batch sorts in the order the events were made.
    event_ids = bulk_ids("evt", len(ending_events) + len(sub_ids))
    created: list[Any] = []
    if sub_ids:
        created = await renewal_pg.renew(
            session,
            now,
            sub_ids,
            period_ends,
            statuses,
            bulk_ids("inv", len(sub_ids)),
            event_ids[len(ending_events) :],
        )
    if checkpoint is not None:
        checkpoint("invoices_inserted")
    if endings:
        await _end(session, endings)
        for event, event_id in zip(ending_events, event_ids, strict=False):
            event["id"] = event_id
        await renewal_pg.insert_events(session, ending_events)
    for e in ending_events:
        enqueue_after_commit(
            session, "events.dispatch", job_id=f"dispatch:{e['id']}", event_id=e["id"]
        )
    invoice_ids: list[str] = []
    for invoice_id, merchant_id, status, collection_method, event_id in created:
        invoice_ids.append(invoice_id)
        enqueue_after_commit(
            session, "events.dispatch", job_id=f"dispatch:{event_id}", event_id=event_id
        )
        if collection_method == "charge_automatically" and status == "open":
            enqueue_after_commit(
                session,
                CHARGE_JOB,
                job_id=charge_job_id(invoice_id),
                merchant_id=merchant_id,
                invoice_id=invoice_id,
                initiated_by="automatic",
            )
            result.charges_enqueued += 1
    result.renewed = len(sub_ids)
    result.ended = len(endings)
    result.invoices_created = len(invoice_ids)
    result.invoice_ids = invoice_ids
    return result, len(rows)


async def _end(session: AsyncSession, endings: list[dict[str, Any]]) -> None:
    """Cancel subscriptions whose last period is over (cancel_at_period_end, billing_cycles)."""
    await session.execute(
        update(S)
        .where(S.c.id == bindparam("b_id"), S.c.status.in_(SUBSCRIPTION.sources_of("canceled")))
        .values(
            status="canceled",
            ended_at=bindparam("b_ended_at"),
            canceled_at=bindparam("b_ended_at"),
            cancel_at_period_end=False,
        ),
        endings,
    )


async def renew_batch(
    session: AsyncSession,
    now: datetime,
    *,
    limit: int = DEFAULT_BATCH,
    checkpoint: Checkpoint | None = None,
) -> tuple[RunResult, int]:
    """Renew up to ``limit`` due subscriptions in the caller's transaction.

    Returns the result and how many rows were selected (0: nothing is due any more)."""
    if is_postgres(session):
        return await _renew_batch_pg(session, now, limit, checkpoint)
    # The portable path (SQLite). Core rows, not ORM: the batch never builds objects.
    connection = await session.connection()
    rows = (await connection.execute(_due_query(now, limit))).all()
    if not rows:
        return RunResult(), 0
    result = RunResult(batches=1)

    renewals: list[dict[str, Any]] = []  # one per invoice to create
    endings: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for r in rows:
        period_start = r.current_period_end
        if r.cancel_at_period_end or (
            r.billing_cycles is not None and r.cycles_billed >= r.billing_cycles
        ):
            SUBSCRIPTION.check(r.status, "canceled")
            endings.append({"b_id": r.id, "b_ended_at": period_start})
            events.append(
                _event(
                    r.merchant_id,
                    "subscription.canceled",
                    {
                        "subscription_id": r.id,
                        "customer_id": r.customer_id,
                        "status": "canceled",
                        "reason": "cancel_at_period_end"
                        if r.cancel_at_period_end
                        else "billing_cycles_completed",
                    },
                    now,
                )
            )
            continue
        index = r.period_index + 1
        period_end = period_boundary(
            r.anchor_at, cast(Interval, r.interval), r.interval_count, index + 1, r.timezone
        )
        status = SUBSCRIPTION.check(r.status, "active") if r.status == "trialing" else r.status
        credit = min(r.pending_credit, r.amount)
        renewals.append(
            {
                "row": r,
                "index": index,
                "start": period_start,
                "end": period_end,
                "status": status,
                "credit": credit,
            }
        )

    existing = await _already_invoiced(session, renewals)
    invoice_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    by_merchant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in renewals:
        if (item["row"].id, item["start"]) not in existing:
            by_merchant[item["row"].merchant_id].append(item)
    # Sequence rows are locked in one global order, so two workers never deadlock.
    for merchant_id in sorted(by_merchant):
        items = by_merchant[merchant_id]
        first = await take_numbers(session, merchant_id, len(items))
        for item, invoice_id in zip(items, bulk_ids("inv", len(items)), strict=True):
            item["invoice_id"] = invoice_id
        for offset, item in enumerate(items):
            invoice_rows.append(_invoice_row(item, first + offset, now, line_rows, events))

    if invoice_rows:
        await session.execute(
            sqlite.insert(INVOICES).on_conflict_do_nothing(
                index_elements=["subscription_id", "period_start"]
            ),
            invoice_rows,
        )
        await session.execute(insert(LINES), line_rows)
    if checkpoint is not None:
        checkpoint("invoices_inserted")
    if renewals:
        await session.execute(
            update(S)
            .where(S.c.id == bindparam("b_id"), S.c.status == bindparam("b_old"))
            .values(
                period_index=bindparam("b_index"),
                current_period_start=bindparam("b_start"),
                current_period_end=bindparam("b_end"),
                cycles_billed=S.c.cycles_billed + 1,
                pending_credit=S.c.pending_credit - bindparam("b_credit"),
                status=bindparam("b_status"),
            ),
            [
                {
                    "b_id": item["row"].id,
                    "b_old": item["row"].status,
                    "b_index": item["index"],
                    "b_start": item["start"],
                    "b_end": item["end"],
                    "b_credit": item["credit"],
                    "b_status": item["status"],
                }
                for item in renewals
            ],
        )
    if endings:
        await _end(session, endings)
    if events:
        for event, event_id in zip(events, bulk_ids("evt", len(events)), strict=True):
            event["id"] = event_id
        await session.execute(insert(EVENTS), events)
        for e in events:
            enqueue_after_commit(
                session, "events.dispatch", job_id=f"dispatch:{e['id']}", event_id=e["id"]
            )
    for inv in invoice_rows:
        if inv["collection_method"] == "charge_automatically" and inv["status"] == "open":
            enqueue_after_commit(
                session,
                CHARGE_JOB,
                job_id=charge_job_id(inv["id"]),
                merchant_id=inv["merchant_id"],
                invoice_id=inv["id"],
                initiated_by="automatic",
            )
            result.charges_enqueued += 1
    result.renewed = len(renewals)
    result.ended = len(endings)
    result.invoices_created = len(invoice_rows)
    result.invoice_ids = [inv["id"] for inv in invoice_rows]
    return result, len(rows)


def _invoice_row(
    item: dict[str, Any],
    number: int,
    now: datetime,
    line_rows: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    r = item["row"]
    invoice_id = item["invoice_id"]
    total = r.amount - item["credit"]
    start, end = item["start"], item["end"]
    due_at = (
        start + timedelta(days=r.days_until_due) if r.collection_method == "send_invoice" else start
    )
    status = "open" if total > 0 else "paid"
    line_rows.append(
        {
            "invoice_id": invoice_id,
            "merchant_id": r.merchant_id,
            "kind": "subscription",
            "description": r.name,
            "amount": r.amount,
            "period_start": start,
            "period_end": end,
        }
    )
    if item["credit"]:
        line_rows.append(
            {
                "invoice_id": invoice_id,
                "merchant_id": r.merchant_id,
                "kind": "proration",
                "description": "Credit from a plan change",
                "amount": -item["credit"],
                "period_start": start,
                "period_end": end,
            }
        )
    events.append(
        _event(
            r.merchant_id,
            "invoice.created",
            {
                "invoice_id": invoice_id,
                "number": number,
                "customer_id": r.customer_id,
                "subscription_id": r.id,
                "total": total,
                "currency": r.currency,
                "status": status,
            },
            now,
        )
    )
    return {
        "id": invoice_id,
        "merchant_id": r.merchant_id,
        "customer_id": r.customer_id,
        "subscription_id": r.id,
        "number": number,
        "status": status,
        "collection_method": r.collection_method,
        "currency": r.currency,
        "subtotal": r.amount,
        "discount": 0,
        "late_fee": 0,
        "interest": 0,
        "total": total,
        "amount_paid": 0,
        "due_at": due_at,
        "period_start": start,
        "period_end": end,
        "paid_at": None if total > 0 else now,
        "voided_at": None,
        "attempt_count": 0,
        "next_payment_attempt": None,
        "created_at": now,
    }


async def _already_invoiced(
    session: AsyncSession, renewals: list[dict[str, Any]]
) -> set[tuple[str, datetime]]:
    """Periods that already have their invoice (left by an inconsistent past): they are
    advanced without taking a number, so the merchant's numbering keeps no gap."""
    if not renewals:
        return set()
    ids = [item["row"].id for item in renewals]
    starts = {item["start"] for item in renewals}
    found = await session.execute(
        select(INVOICES.c.subscription_id, INVOICES.c.period_start).where(
            and_(INVOICES.c.subscription_id.in_(ids), INVOICES.c.period_start.in_(starts))
        )
    )
    return {(sid, start) for sid, start in found.all()}


async def run_billing(
    session_factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    checkpoint: Checkpoint | None = None,
) -> RunResult:
    """Renew everything due now, one transaction per batch, until nothing is due."""
    total = RunResult()
    while max_batches is None or total.batches < max_batches:
        async with unit_of_work(session_factory) as session:
            now = await clock.sync(session)
            batch, selected = await renew_batch(
                session, now, limit=batch_size, checkpoint=checkpoint
            )
        total.add(batch)
        if selected == 0:
            break
    return total
