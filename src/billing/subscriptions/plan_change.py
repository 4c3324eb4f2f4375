"""Changing a subscription's plan mid-period, with or without proration.

``create_prorations`` credits the unused part of the old price and charges the remaining
part of the new one (subscriptions/proration.py, to the second). A positive net is invoiced
and collected now; a negative net (a downgrade) is owed to the payer and taken off the next
invoices (``pending_credit``), since an invoice cannot have a negative total.
A plan with another interval restarts the billing cycle now (the new price is billed for a
full new period, minus the credit), as a shorter or longer period cannot be prorated
against the old one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.invoices.service import LineDraft, create_invoice, hand_off_for_collection
from billing.kit.errors import InvalidStateTransition, ValidationFailed
from billing.models import Plan, Subscription
from billing.plans.service import get_plan
from billing.subscriptions.periods import period_boundary
from billing.subscriptions.proration import prorate
from billing.subscriptions.schemas import SubscriptionOut
from billing.subscriptions.service import (
    due_date,
    get_subscription,
    interval_of,
    merchant_timezone,
    subscription_event_data,
    subscription_views,
)
from billing.subscriptions.state import RENEWING


def _same_cycle(a: Plan, b: Plan) -> bool:
    return (a.interval, a.interval_count) == (b.interval, b.interval_count)


async def change_plan(
    session: AsyncSession,
    merchant_id: str,
    subscription_id: str,
    *,
    plan_id: str,
    proration: str,
    now: datetime,
) -> SubscriptionOut:
    sub = await get_subscription(session, merchant_id, subscription_id, for_update=True)
    if sub.status not in RENEWING:
        raise InvalidStateTransition(
            f"A {sub.status} subscription cannot change plan.",
            extra={"current_status": sub.status},
        )
    new = await get_plan(session, merchant_id, plan_id)
    old = await get_plan(session, merchant_id, sub.plan_id)
    if new.id == old.id:
        raise ValidationFailed("plan_id", "the subscription is already on this plan")
    if not new.active:
        raise ValidationFailed("plan_id", "the plan is inactive")
    if new.currency != old.currency:
        raise ValidationFailed("plan_id", f"the plan must be billed in {old.currency}")
    if proration not in ("create_prorations", "none"):
        raise ValidationFailed("proration", "must be create_prorations or none")

    if sub.status == "trialing" or proration == "none":
        _switch_at_period_end(sub, old, new)
    elif _same_cycle(old, new):
        await _prorate_rest_of_period(session, sub, old, new, now=now)
    else:
        await _restart_cycle(session, sub, old, new, now=now)
    sub.plan_id = new.id
    await session.flush()
    await record_event(
        session,
        merchant_id,
        "subscription.updated",
        subscription_event_data(sub, previous_plan_id=old.id, proration=proration),
        now=now,
    )
    return (await subscription_views(session, [sub]))[0]


def _switch_at_period_end(sub: Subscription, old: Plan, new: Plan) -> None:
    """The current period stays as paid; the next ones follow the new plan."""
    if not _same_cycle(old, new):
        # Re-anchor on the end of this period (as "period -1"): the new interval counts
        # from there.
        sub.anchor_at, sub.period_index = sub.current_period_end, -1


async def _prorate_rest_of_period(
    session: AsyncSession, sub: Subscription, old: Plan, new: Plan, *, now: datetime
) -> None:
    result = prorate(old.amount, new.amount, sub.current_period_start, sub.current_period_end, now)
    if result.net <= 0:
        sub.pending_credit += -result.net
        return
    end = sub.current_period_end
    invoice = await create_invoice(
        session,
        merchant_id=sub.merchant_id,
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        currency=new.currency,
        lines=[
            LineDraft("proration", f"Unused time on {old.name}", -result.credit, now, end),
            LineDraft("proration", f"Remaining time on {new.name}", result.charge, now, end),
        ],
        due_at=due_date(sub.collection_method, sub.days_until_due, now),
        now=now,
        collection_method=sub.collection_method,
        period_start=now,
        period_end=end,
    )
    hand_off_for_collection(session, invoice)


async def _restart_cycle(
    session: AsyncSession, sub: Subscription, old: Plan, new: Plan, *, now: datetime
) -> None:
    unused = prorate(old.amount, 0, sub.current_period_start, sub.current_period_end, now).credit
    tz = await merchant_timezone(session, sub.merchant_id)
    end = period_boundary(now, interval_of(new), new.interval_count, 1, tz)
    applied = min(unused, new.amount)
    sub.pending_credit += unused - applied
    lines = [LineDraft("subscription", new.name, new.amount, now, end)]
    if applied:
        lines.append(LineDraft("proration", f"Unused time on {old.name}", -applied, now, end))
    sub.anchor_at, sub.period_index = now, 0
    sub.current_period_start, sub.current_period_end = now, end
    sub.cycles_billed += 1
    invoice = await create_invoice(
        session,
        merchant_id=sub.merchant_id,
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        currency=new.currency,
        lines=lines,
        due_at=due_date(sub.collection_method, sub.days_until_due, now),
        now=now,
        collection_method=sub.collection_method,
        period_start=now,
        period_end=end,
    )
    hand_off_for_collection(session, invoice)
