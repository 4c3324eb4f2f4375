"""MRR and churn over time, from subscriptions and the events that ended them.

A subscription contributes its plan's amount normalised to a month, in the merchant's
currency, from when it starts paying (``trial_end`` if it had a trial, else its creation)
until it churns. Normalisation, exact until one half-even rounding per reported figure:
``month``: amount / interval_count; ``year``: amount / (12 * interval_count);
``week``: amount * 52 / 12 / interval_count; ``day``: amount * 30.4375 / interval_count
(30.4375 = 365.25 / 12, the mean month of the Gregorian leap cycle).

Churn, when and why (the ``subscription.canceled``/``subscription.unpaid`` events):
- ``involuntary``: the dunning final action ended it (``subscription.unpaid``, or
  ``subscription.canceled`` with reason ``payment_retries_exhausted``), at the time of that
  event for unpaid ones and ``ended_at`` for canceled ones; a merchant canceling an
  already-unpaid subscription is still involuntary (non-payment lost it first);
- ``ended``: a fixed-term plan that ran its ``billing_cycles`` (not churn, but MRR leaves);
- ``voluntary``: any other cancellation (merchant API, payer in the portal, at period end).

Left out on purpose: plan history is not kept (a plan change rewrites ``plan_id``), so
MRR uses each subscription's current plan throughout and there is no expansion or
contraction; paused subscriptions stay counted; a subscription that went unpaid, was
recovered and later canceled voluntarily counts as involuntary.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import and_, case, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from billing.db import UTCDateTime
from billing.models import Event, Plan, Subscription
from billing.reports.periods import buckets
from billing.reports.service import without_jit

# Months per interval, times 48 so that every factor is an integer (1461/48 = 30.4375).
PER_48_MONTHS = {"day": 1461, "week": 208, "month": 48, "year": 4}
CHURN_KINDS = ("voluntary", "involuntary", "ended")


@dataclass(frozen=True)
class MrrRow:
    period_start: str
    mrr_start: int
    new_count: int
    new_mrr: int
    churned_voluntary_count: int
    churned_voluntary_mrr: int
    churned_involuntary_count: int
    churned_involuntary_mrr: int
    ended_count: int
    ended_mrr: int
    mrr: int  # at the end of the period
    active_subscriptions: int  # at the end of the period
    churn_rate: str  # churned (voluntary + involuntary) / active at the start, percent


def _monthly(amount: int, interval: str, count: int) -> Fraction:
    return Fraction(amount * PER_48_MONTHS[interval], 48 * count)


def _percent(part: int, whole: int) -> str:
    return str((Decimal(part) * 100 / whole).quantize(Decimal("0.01"))) if whole else ""


async def mrr(
    session: AsyncSession, merchant_id: str, *, currency: str, now: datetime, timezone: str,
    interval: str = "month", start: date | None = None, end: date | None = None,
) -> list[MrrRow]:  # fmt: skip
    b = buckets(interval, start, end, now=now, timezone=timezone)
    await without_jit(session)
    sid = Event.data["subscription_id"].as_string()
    reason = Event.data["reason"].as_string()
    unpaid = Event.type == "subscription.unpaid"
    ends = (
        select(
            sid.label("sid"),
            type_coerce(func.max(case((unpaid, Event.created_at))), UTCDateTime).label("unpaid_at"),
            func.max(case((or_(unpaid, reason == "payment_retries_exhausted"), 1), else_=0)).label(
                "involuntary"
            ),
            func.max(case((reason == "billing_cycles_completed", 1), else_=0)).label("ended"),
        )
        .where(
            Event.merchant_id == merchant_id,
            Event.type.in_(("subscription.canceled", "subscription.unpaid")),
        )
        .group_by(sid)
        .subquery()
    )
    start_at = case(
        (Subscription.trial_end > Subscription.created_at, Subscription.trial_end),
        else_=Subscription.created_at,
    )
    churn_at = case(
        (
            Subscription.status == "canceled",
            func.coalesce(Subscription.ended_at, Subscription.canceled_at),
        ),
        (Subscription.status == "unpaid", ends.c.unpaid_at),
        else_=None,
    )
    kind = case(
        (or_(Subscription.status == "unpaid", ends.c.involuntary == 1), "involuntary"),
        (ends.c.ended == 1, "ended"),
        else_="voluntary",
    )
    subs = (
        select(
            Plan.interval.label("interval"),
            Plan.interval_count.label("interval_count"),
            Plan.amount.label("amount"),
            type_coerce(start_at, UTCDateTime).label("start_at"),
            type_coerce(churn_at, UTCDateTime).label("churn_at"),
            kind.label("kind"),
        )
        .join(Plan, and_(Plan.id == Subscription.plan_id, Plan.merchant_id == merchant_id))
        .outerjoin(ends, ends.c.sid == Subscription.id)
        .where(Subscription.merchant_id == merchant_id, Plan.currency == currency)
        .subquery()
    )
    lived = or_(subs.c.churn_at.is_(None), subs.c.churn_at > subs.c.start_at)
    started = b.index(subs.c.start_at, before=-1).label("bucket")
    new_rows = await session.execute(
        select(started, subs.c.interval, subs.c.interval_count, func.count(),
               func.sum(subs.c.amount))
        .where(subs.c.start_at < b.bounds[-1], lived)
        .group_by(started, subs.c.interval, subs.c.interval_count)
    )  # fmt: skip
    churned = b.index(subs.c.churn_at, before=-1).label("bucket")
    churn_rows = await session.execute(
        select(churned, subs.c.kind, subs.c.interval, subs.c.interval_count, func.count(),
               func.sum(subs.c.amount))
        .where(subs.c.churn_at < b.bounds[-1], subs.c.churn_at > subs.c.start_at)
        .group_by(churned, subs.c.kind, subs.c.interval, subs.c.interval_count)
    )  # fmt: skip
    new: dict[int, list[Fraction]] = defaultdict(lambda: [Fraction(0), Fraction(0)])
    for i, iv, n_iv, n, total in new_rows.all():
        new[int(i)][0] += n
        new[int(i)][1] += _monthly(int(total), iv, int(n_iv))
    lost: dict[tuple[int, str], list[Fraction]] = defaultdict(lambda: [Fraction(0), Fraction(0)])
    for i, k, iv, n_iv, n, total in churn_rows.all():
        lost[(int(i), k)][0] += n
        lost[(int(i), k)][1] += _monthly(int(total), iv, int(n_iv))

    # Running totals stay exact; each figure is rounded once, half-even, when reported.
    count = new[-1][0] - sum(lost[(-1, k)][0] for k in CHURN_KINDS)
    value = new[-1][1] - sum(lost[(-1, k)][1] for k in CHURN_KINDS)
    out = []
    for i, start_day in enumerate(b.starts):
        n_new, v_new = new[i]
        gone = {k: lost[(i, k)] for k in CHURN_KINDS}
        end_count = count + n_new - sum(g[0] for g in gone.values())
        end_value = value + v_new - sum(g[1] for g in gone.values())
        churned_n = int(gone["voluntary"][0] + gone["involuntary"][0])
        out.append(
            MrrRow(
                start_day.isoformat(), round(value), int(n_new), round(v_new),
                int(gone["voluntary"][0]), round(gone["voluntary"][1]),
                int(gone["involuntary"][0]), round(gone["involuntary"][1]),
                int(gone["ended"][0]), round(gone["ended"][1]),
                round(end_value), int(end_count), _percent(churned_n, int(count)),
            )
        )  # fmt: skip
        count, value = end_count, end_value
    return out
