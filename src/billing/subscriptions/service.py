"""Subscriptions: start, read, cancel, pause, resume. Plan changes: plan_change.py;
the renewal of due periods: renewal.py; the first charge at sign-up: signup.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.customers.service import get_customer
from billing.events.service import record_event
from billing.invoices.service import LineDraft, create_invoice, hand_off_for_collection
from billing.kit.errors import InvalidStateTransition, NotFound, ValidationFailed
from billing.kit.ids import new_id
from billing.kit.pagination import fetch_page
from billing.models import Invoice, Merchant, PaymentMethod, Plan, Subscription
from billing.plans.service import get_plan
from billing.subscriptions.periods import Interval, period_boundary, trial_end
from billing.subscriptions.schemas import SubscriptionCreate, SubscriptionOut
from billing.subscriptions.state import RENEWING, SUBSCRIPTION


def subscription_event_data(sub: Subscription, **extra: Any) -> dict[str, Any]:
    return {
        "subscription_id": sub.id,
        "customer_id": sub.customer_id,
        "plan_id": sub.plan_id,
        "status": sub.status,
        **extra,
    }


def interval_of(plan: Plan) -> Interval:
    return cast(Interval, plan.interval)


def due_date(collection_method: str, days_until_due: int, period_start: datetime) -> datetime:
    # A card is charged when the period starts; a boleto/Pix payer gets days to pay.
    if collection_method == "send_invoice":
        return period_start + timedelta(days=days_until_due)
    return period_start


async def merchant_timezone(session: AsyncSession, merchant_id: str) -> str:
    tz = await session.scalar(select(Merchant.timezone).where(Merchant.id == merchant_id))
    return tz or "America/Sao_Paulo"


async def _payment_method(
    session: AsyncSession, merchant_id: str, customer_id: str, payment_method_id: str | None
) -> str | None:
    if payment_method_id is None:
        return await session.scalar(
            select(PaymentMethod.id)
            .where(
                PaymentMethod.merchant_id == merchant_id,
                PaymentMethod.customer_id == customer_id,
                PaymentMethod.is_default.is_(True),
                PaymentMethod.detached_at.is_(None),
            )
            .order_by(PaymentMethod.id.desc())
            .limit(1)
        )
    method = await session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.id == payment_method_id, PaymentMethod.merchant_id == merchant_id
        )
    )
    if method is None:
        raise NotFound(f"No payment method {payment_method_id}")
    if method.customer_id != customer_id or method.detached_at is not None:
        raise ValidationFailed("payment_method_id", "is not an attached method of this customer")
    return method.id


def period_line(plan: Plan, start: datetime, end: datetime) -> LineDraft:
    return LineDraft("subscription", plan.name, plan.amount, start, end)


async def start_subscription(
    session: AsyncSession, merchant_id: str, data: SubscriptionCreate, *, now: datetime
) -> tuple[Subscription, Invoice | None]:
    """Creates the subscription; without a trial also invoice #1 (charged by the caller)."""
    if not 0 <= data.days_until_due <= 365:
        raise ValidationFailed("days_until_due", "must be between 0 and 365")
    if data.trial_days is not None and not 0 <= data.trial_days <= 730:
        raise ValidationFailed("trial_days", "must be between 0 and 730")
    customer = await get_customer(session, merchant_id, data.customer_id)
    plan = await get_plan(session, merchant_id, data.plan_id)
    if not plan.active:
        raise ValidationFailed("plan_id", "the plan is inactive: new subscriptions are closed")
    method_id = await _payment_method(session, merchant_id, customer.id, data.payment_method_id)
    tz = await merchant_timezone(session, merchant_id)
    trial_days = plan.trial_days if data.trial_days is None else data.trial_days
    sub = Subscription(
        id=new_id("sub"),
        merchant_id=merchant_id,
        customer_id=customer.id,
        plan_id=plan.id,
        payment_method_id=method_id,
        collection_method=data.collection_method,
        days_until_due=data.days_until_due,
        cancel_at_period_end=False,
        cycles_billed=0,
        pending_credit=0,
        created_at=now,
    )
    invoice: Invoice | None = None
    if trial_days > 0:
        ends = trial_end(now, trial_days, tz)
        # The trial is "period -1": periods are anchored on the day paid service begins.
        sub.status, sub.anchor_at, sub.period_index = "trialing", ends, -1
        sub.current_period_start, sub.current_period_end, sub.trial_end = now, ends, ends
        session.add(sub)
        await session.flush()
    else:
        end = period_boundary(now, interval_of(plan), plan.interval_count, 1, tz)
        sub.status, sub.anchor_at, sub.period_index = "active", now, 0
        sub.current_period_start, sub.current_period_end = now, end
        sub.cycles_billed = 1
        session.add(sub)
        await session.flush()
        invoice = await create_invoice(
            session,
            merchant_id=merchant_id,
            customer_id=customer.id,
            subscription_id=sub.id,
            currency=plan.currency,
            lines=[period_line(plan, now, end)],
            due_at=due_date(sub.collection_method, sub.days_until_due, now),
            now=now,
            collection_method=sub.collection_method,
            period_start=now,
            period_end=end,
        )
    await record_event(
        session, merchant_id, "subscription.created", subscription_event_data(sub), now=now
    )
    return sub, invoice


async def get_subscription(
    session: AsyncSession, merchant_id: str, subscription_id: str, *, for_update: bool = False
) -> Subscription:
    query = select(Subscription).where(
        Subscription.id == subscription_id, Subscription.merchant_id == merchant_id
    )
    if for_update:
        query = query.with_for_update()
    sub = await session.scalar(query)
    if sub is None:
        raise NotFound(f"No subscription {subscription_id}")
    return sub


async def latest_invoices(session: AsyncSession, subscription_ids: Sequence[str]) -> dict[str, str]:
    if not subscription_ids:
        return {}
    rows = await session.execute(
        select(Invoice.subscription_id, func.max(Invoice.id))
        .where(Invoice.subscription_id.in_(list(subscription_ids)))
        .group_by(Invoice.subscription_id)
    )
    return {sub_id: inv_id for sub_id, inv_id in rows.all() if sub_id is not None}


async def subscription_views(
    session: AsyncSession, subs: Sequence[Subscription]
) -> list[SubscriptionOut]:
    latest = await latest_invoices(session, [s.id for s in subs])
    return [SubscriptionOut.of(s, latest.get(s.id)) for s in subs]


async def subscription_view(
    session: AsyncSession, merchant_id: str, subscription_id: str
) -> SubscriptionOut:
    sub = await get_subscription(session, merchant_id, subscription_id)
    return (await subscription_views(session, [sub]))[0]


async def list_subscriptions(
    session: AsyncSession,
    merchant_id: str,
    *,
    customer_id: str | None = None,
    plan_id: str | None = None,
    status: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[SubscriptionOut], bool]:
    if status is not None and status not in SUBSCRIPTION.states:
        raise ValidationFailed("status", f"must be one of {', '.join(sorted(SUBSCRIPTION.states))}")
    query = select(Subscription).where(Subscription.merchant_id == merchant_id)
    if customer_id:
        query = query.where(Subscription.customer_id == customer_id)
    if plan_id:
        query = query.where(Subscription.plan_id == plan_id)
    if status:
        query = query.where(Subscription.status == status)
    rows, more = await fetch_page(
        session, query, Subscription.id, limit=limit, starting_after=starting_after
    )
    return await subscription_views(session, rows), more


async def cancel_subscription(
    session: AsyncSession,
    merchant_id: str,
    subscription_id: str,
    *,
    at_period_end: bool,
    now: datetime,
) -> SubscriptionOut:
    sub = await get_subscription(session, merchant_id, subscription_id, for_update=True)
    if at_period_end and sub.status in RENEWING:
        SUBSCRIPTION.check(sub.status, "canceled")
        # The payer keeps what was paid for; the billing run ends it instead of renewing.
        if not sub.cancel_at_period_end:
            sub.cancel_at_period_end, sub.canceled_at = True, now
            await session.flush()
            await record_event(
                session,
                merchant_id,
                "subscription.updated",
                subscription_event_data(sub, cancel_at_period_end=True),
                now=now,
            )
    else:
        # Paused or unpaid subscriptions have no running period to wait for.
        sub.status = SUBSCRIPTION.check(sub.status, "canceled")
        sub.canceled_at, sub.ended_at = now, now
        sub.cancel_at_period_end = False
        await session.flush()
        await record_event(
            session, merchant_id, "subscription.canceled", subscription_event_data(sub), now=now
        )
    return (await subscription_views(session, [sub]))[0]


async def pause_subscription(
    session: AsyncSession, merchant_id: str, subscription_id: str, *, now: datetime
) -> SubscriptionOut:
    sub = await get_subscription(session, merchant_id, subscription_id, for_update=True)
    sub.status = SUBSCRIPTION.check(sub.status, "paused")
    sub.paused_at = now
    await session.flush()
    await record_event(
        session, merchant_id, "subscription.paused", subscription_event_data(sub), now=now
    )
    return (await subscription_views(session, [sub]))[0]


async def resume_subscription(
    session: AsyncSession, merchant_id: str, subscription_id: str, *, now: datetime
) -> SubscriptionOut:
    """Back to active. A pause that outlived its period starts a new one now, billed now."""
    sub = await get_subscription(session, merchant_id, subscription_id, for_update=True)
    if sub.status != "paused":
        # past_due -> active is legal for a payment, never for "resume".
        raise InvalidStateTransition(
            f"Only a paused subscription can resume; this one is '{sub.status}'.",
            extra={"current_status": sub.status, "requested_status": "active"},
        )
    sub.status = SUBSCRIPTION.check(sub.status, "active")
    sub.paused_at = None
    if sub.current_period_end <= now:
        plan = await get_plan(session, merchant_id, sub.plan_id)
        if plan.billing_cycles is not None and sub.cycles_billed >= plan.billing_cycles:
            sub.status = SUBSCRIPTION.check(sub.status, "canceled")
            sub.canceled_at, sub.ended_at = now, now
        else:
            await _restart_period(session, sub, plan, now=now)
    await session.flush()
    await record_event(
        session, merchant_id, "subscription.resumed", subscription_event_data(sub), now=now
    )
    return (await subscription_views(session, [sub]))[0]


async def _restart_period(
    session: AsyncSession, sub: Subscription, plan: Plan, *, now: datetime
) -> Invoice:
    tz = await merchant_timezone(session, sub.merchant_id)
    end = period_boundary(now, interval_of(plan), plan.interval_count, 1, tz)
    sub.anchor_at, sub.period_index = now, 0
    sub.current_period_start, sub.current_period_end = now, end
    sub.cycles_billed += 1
    invoice = await create_invoice(
        session,
        merchant_id=sub.merchant_id,
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        currency=plan.currency,
        lines=[period_line(plan, now, end)],
        due_at=due_date(sub.collection_method, sub.days_until_due, now),
        now=now,
        collection_method=sub.collection_method,
        period_start=now,
        period_end=end,
    )
    hand_off_for_collection(session, invoice)
    return invoice
