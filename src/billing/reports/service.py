"""Reports as aggregate SQL, scoped by merchant, as of the injected clock's ``now``.

"Outstanding" is what a collectible (open/uncollectible) installment still owes
(total - amount_paid, late charges excluded: they are a function of the payment date).

Debtor score (0-100, higher = collect first), integer arithmetic:
- amount: 40 * min(1, overdue amount / 1,000.00 in minor units), floored;
- age: 40 * min(1, days overdue of the oldest overdue installment / 90), floored;
- history: 20 * (1 - share of paid installments paid by their due date), floored;
  a customer with no paid installment yet gets 10 (no history: neither good nor bad).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Subquery,
    and_,
    case,
    cast,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.promises import get_customer
from billing.db import is_postgres
from billing.invoices.state import COLLECTIBLE
from billing.kit.errors import ValidationFailed
from billing.kit.money import round_minor
from billing.models import Customer, Invoice, PaymentAttempt, PaymentMethod

AGING_BUCKETS = ("current", "1_30", "31_60", "61_90", "90_plus")
DEBTOR_SORTS = ("amount", "days_overdue", "score")
SCORE_AMOUNT_CAP = 100_000
SCORE_AGE_CAP_DAYS = 90


async def without_jit(session: AsyncSession) -> None:
    """Tune PostgreSQL for the rest of this (report) transaction.

    JIT off: report queries run for tens to hundreds of milliseconds, but their correlated
    subqueries push the planner's cost estimate past ``jit_above_cost``, and compiling took
    longer than executing (450 ms of JIT for ~1.7 s of work on 1M installments,
    bench/reports.py). ``work_mem`` 64 MB: recovery hashes and groups hundreds of thousands
    of rows, which spilled to disk in 16 batches at the 4 MB default. ``SET LOCAL`` ends
    with the transaction, which a report request owns alone.
    """
    if is_postgres(session):
        await session.execute(text("SET LOCAL jit = off"))
        await session.execute(text("SET LOCAL work_mem = '64MB'"))


def _outstanding() -> object:
    return Invoice.total - Invoice.amount_paid


@dataclass(frozen=True)
class AgingRow:
    bucket: str
    count: int
    amount: int


async def aging(session: AsyncSession, merchant_id: str, *, now: datetime) -> list[AgingRow]:
    """One grouped query: buckets by whole days past the due date (not yet due = current)."""
    await without_jit(session)
    day = timedelta(days=1)
    bucket = case(
        (Invoice.due_at >= now, "current"),
        (Invoice.due_at >= now - 30 * day, "1_30"),
        (Invoice.due_at >= now - 60 * day, "31_60"),
        (Invoice.due_at >= now - 90 * day, "61_90"),
        else_="90_plus",
    ).label("bucket")
    rows = await session.execute(
        select(bucket, func.count(), func.sum(Invoice.total - Invoice.amount_paid))
        .where(
            Invoice.merchant_id == merchant_id,
            Invoice.status.in_(COLLECTIBLE),
            Invoice.total > Invoice.amount_paid,
        )
        .group_by(bucket)
    )
    found = {b: (int(c), int(s or 0)) for b, c, s in rows.all()}
    return [AgingRow(b, *found.get(b, (0, 0))) for b in AGING_BUCKETS]


@dataclass(frozen=True)
class DebtorRow:
    customer_id: str
    name: str
    email: str
    amount_overdue: int
    overdue_installments: int
    days_overdue: int
    paid_installments: int
    paid_on_time: int
    score: int


def debtor_score(amount: int, days: int, paid: int, on_time: int) -> int:
    """The score in Python, for reading; ``_ranking`` computes the same in SQL."""
    amount_pts = min(40, amount * 40 // SCORE_AMOUNT_CAP)
    age_pts = min(40, days * 40 // SCORE_AGE_CAP_DAYS)
    history_pts = 10 if paid == 0 else 20 * (paid - on_time) // paid
    return amount_pts + age_pts + history_pts


def _epoch_seconds(column: Any, postgres: bool) -> ColumnElement[int]:
    if postgres:
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def _int(value: Any) -> ColumnElement[int]:
    return cast(value, BigInteger)


def _ranking(
    merchant_id: str, now: datetime, postgres: bool, customer_id: str | None = None
) -> Subquery:
    """Every debtor's figures and score, computed in the database (integer arithmetic,
    ``//`` is integer division on both dialects) so that sorting and paging never load
    the whole ranking."""
    overdue = and_(
        Invoice.status.in_(COLLECTIBLE), Invoice.total > Invoice.amount_paid, Invoice.due_at < now
    )
    paid = Invoice.status == "paid"
    scope = [Invoice.merchant_id == merchant_id]
    if customer_id is not None:
        scope.append(Invoice.customer_id == customer_id)
    per_customer = (
        select(
            Invoice.customer_id.label("customer_id"),
            # PostgreSQL's sum(bigint) is numeric, where "/" would not truncate: back to
            # integers so that the score is the documented integer arithmetic.
            _int(func.sum(case((overdue, Invoice.total - Invoice.amount_paid), else_=0))).label(
                "amt"
            ),
            _int(func.sum(case((overdue, 1), else_=0))).label("n_overdue"),
            func.min(case((overdue, Invoice.due_at), else_=None)).label("oldest"),
            _int(func.sum(case((paid, 1), else_=0))).label("n_paid"),
            _int(func.sum(case((and_(paid, Invoice.paid_at <= Invoice.due_at), 1), else_=0))).label(
                "n_on_time"
            ),
        )
        .where(*scope)
        .group_by(Invoice.customer_id)
        .subquery()
    )
    c = per_customer.c
    days = ((int(now.timestamp()) - _epoch_seconds(c.oldest, postgres)) // 86400).label("days")
    with_days = (
        select(c.customer_id, c.amt, c.n_overdue, c.n_paid, c.n_on_time, days)
        .where(c.n_overdue > 0)
        .subquery()
    )
    d = with_days.c
    amount_pts = case((d.amt >= SCORE_AMOUNT_CAP, 40), else_=d.amt * 40 // SCORE_AMOUNT_CAP)
    age_pts = case((d.days >= SCORE_AGE_CAP_DAYS, 40), else_=d.days * 40 // SCORE_AGE_CAP_DAYS)
    history_pts = case((d.n_paid == 0, 10), else_=20 * (d.n_paid - d.n_on_time) // d.n_paid)
    return select(*d, (amount_pts + age_pts + history_pts).label("score")).subquery("ranking")


@dataclass(frozen=True)
class DebtorPage:
    rows: list[DebtorRow]
    has_more: bool


async def debtors(
    session: AsyncSession, merchant_id: str, *, now: datetime, sort: str = "amount",
    limit: int = 100, starting_after: str | None = None,
) -> DebtorPage:  # fmt: skip
    """One page of the ranking, highest first, ties by customer id; ``starting_after``
    is the last customer id of the previous page (keyset: stable while paging)."""
    if sort not in DEBTOR_SORTS:
        raise ValidationFailed("sort", f"one of {', '.join(DEBTOR_SORTS)}")
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit", "between 1 and 1000")
    postgres = is_postgres(session)
    await without_jit(session)
    column = {"amount": "amt", "days_overdue": "days", "score": "score"}[sort]
    ranking = _ranking(merchant_id, now, postgres)
    key = ranking.c[column]
    query = (
        select(ranking, Customer.name, Customer.email)
        .join(Customer, Customer.id == ranking.c.customer_id)
        .order_by(key.desc(), ranking.c.customer_id)
        .limit(limit + 1)
    )
    if starting_after is not None:
        # The cursor's own key, from that one customer's installments (an index lookup).
        one = _ranking(merchant_id, now, postgres, customer_id=starting_after)
        after = await session.scalar(select(one.c[column]))
        if after is None:
            raise ValidationFailed("starting_after", "a customer in this ranking")
        query = query.where(
            or_(key < after, and_(key == after, ranking.c.customer_id > starting_after))
        )
    rows = (await session.execute(query)).all()
    page = [
        DebtorRow(
            r.customer_id,
            r.name or "",
            r.email or "",
            int(r.amt),
            int(r.n_overdue),
            int(r.days),
            int(r.n_paid),
            int(r.n_on_time),
            int(r.score),
        )
        for r in rows[:limit]
    ]
    return DebtorPage(page, len(rows) > limit)


@dataclass(frozen=True)
class CustomerMetrics:
    customer_id: str
    currency: str
    purchases: int  # paid installments
    lifetime_value: int  # sum of succeeded payments
    average_ticket: int  # lifetime_value / purchases, rounded once (half-even)
    paid_on_time: int
    share_paid_on_time: str  # percent with 2 decimals, "" with no purchase
    payment_methods: list[str]


async def customer_metrics(
    session: AsyncSession, merchant_id: str, customer_id: str, currency: str
) -> CustomerMetrics:
    await get_customer(session, merchant_id, customer_id)
    scope = (Invoice.merchant_id == merchant_id, Invoice.customer_id == customer_id)
    purchases, on_time = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Invoice.paid_at <= Invoice.due_at, 1), else_=0)), 0),
            ).where(*scope, Invoice.status == "paid")
        )
    ).one()
    ltv = await session.scalar(
        select(func.coalesce(func.sum(PaymentAttempt.amount), 0)).where(
            PaymentAttempt.merchant_id == merchant_id,
            PaymentAttempt.customer_id == customer_id,
            PaymentAttempt.status == "succeeded",
        )
    )
    methods = await session.scalars(
        select(PaymentMethod.type)
        .distinct()
        .join(PaymentAttempt, PaymentAttempt.payment_method_id == PaymentMethod.id)
        .where(
            PaymentAttempt.merchant_id == merchant_id,
            PaymentAttempt.customer_id == customer_id,
            PaymentAttempt.status == "succeeded",
        )
    )
    purchases, on_time, ltv = int(purchases), int(on_time), int(ltv or 0)
    share = str((Decimal(on_time) * 100 / purchases).quantize(Decimal("0.01"))) if purchases else ""
    return CustomerMetrics(
        customer_id, currency, purchases, ltv,
        round_minor(Decimal(ltv) / purchases) if purchases else 0,
        on_time, share, sorted(methods.all()),
    )  # fmt: skip
