"""Plan change and cancellation from the portal: a preview first, then issue 3's services.

The preview mirrors ``subscriptions.plan_change``: same cycle → prorated to the second;
another interval → a new cycle starts now minus the unused credit; trialing → the switch
applies at the next charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.errors import InvalidStateTransition, NotFound
from billing.models import Plan
from billing.portal.sessions import Payer
from billing.portal.views import PlanFace, SubscriptionView, get_subscription
from billing.subscriptions.plan_change import change_plan
from billing.subscriptions.proration import prorate
from billing.subscriptions.schemas import SubscriptionOut
from billing.subscriptions.service import cancel_subscription

PORTAL_PRORATION = "create_prorations"


@dataclass(frozen=True)
class PlanChangePreview:
    subscription: SubscriptionView
    old: PlanFace
    new: Plan
    mode: str  # prorate | restart | at_period_end
    credit: int
    charge: int
    net: int  # > 0 charged now; < 0 credited to the next installments


async def plan_choices(
    session: AsyncSession, payer: Payer, subscription_id: str
) -> tuple[SubscriptionView, list[Plan]]:
    sub = await get_subscription(session, payer, subscription_id)
    if not sub.renewing or sub.cancel_at_period_end:
        raise InvalidStateTransition("This subscription cannot change plan.")
    plans = await session.scalars(
        select(Plan)
        .where(
            Plan.merchant_id == payer.merchant_id,
            Plan.active.is_(True),
            Plan.currency == sub.plan.currency,
            Plan.id != sub.plan.id,
        )
        .order_by(Plan.amount, Plan.id)
    )
    return sub, list(plans)


async def preview_change(
    session: AsyncSession, payer: Payer, subscription_id: str, plan_id: str, *, now: datetime
) -> PlanChangePreview:
    sub, plans = await plan_choices(session, payer, subscription_id)
    new = next((p for p in plans if p.id == plan_id), None)
    if new is None:
        raise NotFound(f"No plan {plan_id}")
    old = sub.plan
    start, end = sub.current_period_start, sub.current_period_end
    if sub.status == "trialing" or not start <= now < end:
        return PlanChangePreview(sub, old, new, "at_period_end", 0, 0, 0)
    if (old.interval, old.interval_count) == (new.interval, new.interval_count):
        result = prorate(old.amount, new.amount, start, end, now)
        return PlanChangePreview(sub, old, new, "prorate", result.credit, result.charge, result.net)
    unused = prorate(old.amount, 0, start, end, now).credit
    applied = min(unused, new.amount)
    return PlanChangePreview(
        sub, old, new, "restart", unused, new.amount, new.amount - applied - (unused - applied)
    )


async def confirm_change(
    session: AsyncSession, payer: Payer, subscription_id: str, plan_id: str, *, now: datetime
) -> SubscriptionOut:
    await preview_change(session, payer, subscription_id, plan_id, now=now)  # scope checks
    return await change_plan(
        session,
        payer.merchant_id,
        subscription_id,
        plan_id=plan_id,
        proration=PORTAL_PRORATION,
        now=now,
    )


async def cancel_at_period_end(
    session: AsyncSession, payer: Payer, subscription_id: str, *, now: datetime
) -> SubscriptionOut:
    sub = await get_subscription(session, payer, subscription_id)
    if not sub.renewing:
        raise InvalidStateTransition("This subscription cannot be canceled here.")
    return await cancel_subscription(
        session, payer.merchant_id, subscription_id, at_period_end=True, now=now
    )
