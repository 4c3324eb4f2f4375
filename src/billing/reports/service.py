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

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.promises import get_customer
from billing.invoices.state import COLLECTIBLE
from billing.kit.errors import ValidationFailed
from billing.kit.money import round_minor
from billing.models import Customer, Invoice, PaymentAttempt, PaymentMethod

AGING_BUCKETS = ("current", "1_30", "31_60", "61_90", "90_plus")
DEBTOR_SORTS = ("amount", "days_overdue", "score")
SCORE_AMOUNT_CAP = 100_000
SCORE_AGE_CAP_DAYS = 90


def _outstanding() -> object:
    return Invoice.total - Invoice.amount_paid


@dataclass(frozen=True)
class AgingRow:
    bucket: str
    count: int
    amount: int


async def aging(session: AsyncSession, merchant_id: str, *, now: datetime) -> list[AgingRow]:
    """One grouped query: buckets by whole days past the due date (not yet due = current)."""
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
    amount_pts = min(40, amount * 40 // SCORE_AMOUNT_CAP)
    age_pts = min(40, days * 40 // SCORE_AGE_CAP_DAYS)
    history_pts = 10 if paid == 0 else 20 * (paid - on_time) // paid
    return amount_pts + age_pts + history_pts


async def debtors(
    session: AsyncSession, merchant_id: str, *, now: datetime, sort: str = "amount",
    limit: int = 100,
) -> list[DebtorRow]:  # fmt: skip
    if sort not in DEBTOR_SORTS:
        raise ValidationFailed("sort", f"one of {', '.join(DEBTOR_SORTS)}")
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit", "between 1 and 1000")
    overdue = and_(
        Invoice.status.in_(COLLECTIBLE), Invoice.total > Invoice.amount_paid, Invoice.due_at < now
    )
    paid = Invoice.status == "paid"
    per_customer = (
        select(
            Invoice.customer_id.label("customer_id"),
            func.sum(case((overdue, Invoice.total - Invoice.amount_paid), else_=0)).label("amt"),
            func.sum(case((overdue, 1), else_=0)).label("n_overdue"),
            func.min(case((overdue, Invoice.due_at), else_=None)).label("oldest"),
            func.sum(case((paid, 1), else_=0)).label("n_paid"),
            func.sum(case((and_(paid, Invoice.paid_at <= Invoice.due_at), 1), else_=0)).label(
                "n_on_time"
            ),
        )
        .where(Invoice.merchant_id == merchant_id)
        .group_by(Invoice.customer_id)
        .subquery()
    )
    rows = await session.execute(
        select(per_customer, Customer.name, Customer.email)
        .join(Customer, Customer.id == per_customer.c.customer_id)
        .where(per_customer.c.n_overdue > 0)
    )
    result = []
    for r in rows.all():
        oldest = r.oldest if isinstance(r.oldest, datetime) else datetime.fromisoformat(r.oldest)
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        days = (now - oldest) // timedelta(days=1)
        result.append(
            DebtorRow(
                r.customer_id, r.name or "", r.email or "", int(r.amt), int(r.n_overdue), days,
                int(r.n_paid), int(r.n_on_time),
                debtor_score(int(r.amt), days, int(r.n_paid), int(r.n_on_time)),
            )
        )  # fmt: skip
    key = {
        "amount": lambda d: (-d.amount_overdue, d.customer_id),
        "days_overdue": lambda d: (-d.days_overdue, d.customer_id),
        "score": lambda d: (-d.score, d.customer_id),
    }[sort]
    return sorted(result, key=key)[:limit]


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
