"""Plans. Price and interval never change: subscribers keep the terms they signed up to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.kit import money
from billing.kit.errors import NotFound, ValidationFailed
from billing.kit.ids import new_id
from billing.kit.pagination import fetch_page
from billing.models import Plan
from billing.plans.schemas import PlanCreate
from billing.subscriptions.periods import INTERVALS

MUTABLE = frozenset({"name", "active", "metadata"})
MAX_INTERVAL_COUNT = {"day": 365, "week": 52, "month": 12, "year": 3}


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("name", "must not be empty")
    if len(name) > 200:
        raise ValidationFailed("name", "must be at most 200 characters")
    return name.strip()


async def create_plan(
    session: AsyncSession, merchant_id: str, data: PlanCreate, *, now: datetime
) -> Plan:
    name = _check_name(data.name)
    if data.amount < 0:
        raise ValidationFailed("amount", "must be zero or more minor units")
    try:
        currency = money.normalize_currency(data.currency)
    except ValueError as exc:
        raise ValidationFailed("currency", str(exc)) from exc
    if data.interval not in INTERVALS:
        raise ValidationFailed("interval", f"must be one of {', '.join(INTERVALS)}")
    if not 1 <= data.interval_count <= MAX_INTERVAL_COUNT[data.interval]:
        raise ValidationFailed(
            "interval_count", f"must be between 1 and {MAX_INTERVAL_COUNT[data.interval]}"
        )
    if not 0 <= data.trial_days <= 730:
        raise ValidationFailed("trial_days", "must be between 0 and 730")
    if data.billing_cycles is not None and data.billing_cycles < 1:
        raise ValidationFailed("billing_cycles", "must be at least 1, or null for no end")
    plan = Plan(
        id=new_id("plan"),
        merchant_id=merchant_id,
        name=name,
        amount=data.amount,
        currency=currency,
        interval=data.interval,
        interval_count=data.interval_count,
        trial_days=data.trial_days,
        billing_cycles=data.billing_cycles,
        active=True,
        metadata_=data.metadata,
        created_at=now,
    )
    session.add(plan)
    await session.flush()
    await record_event(session, merchant_id, "plan.created", {"plan_id": plan.id}, now=now)
    return plan


async def get_plan(session: AsyncSession, merchant_id: str, plan_id: str) -> Plan:
    plan = await session.scalar(
        select(Plan).where(Plan.id == plan_id, Plan.merchant_id == merchant_id)
    )
    if plan is None:
        raise NotFound(f"No plan {plan_id}")
    return plan


async def list_plans(
    session: AsyncSession,
    merchant_id: str,
    *,
    active: bool | None,
    limit: int,
    starting_after: str | None,
) -> tuple[Sequence[Plan], bool]:
    query = select(Plan).where(Plan.merchant_id == merchant_id)
    if active is not None:
        query = query.where(Plan.active == active)
    return await fetch_page(session, query, Plan.id, limit=limit, starting_after=starting_after)


async def update_plan(
    session: AsyncSession, merchant_id: str, plan_id: str, changes: dict[str, Any], *, now: datetime
) -> Plan:
    for field in changes:
        if field not in MUTABLE:
            raise ValidationFailed(field, "is immutable: create a new plan with the new terms")
    plan = await get_plan(session, merchant_id, plan_id)
    if "name" in changes:
        plan.name = _check_name(changes["name"])
    if "active" in changes:
        plan.active = bool(changes["active"])
    if "metadata" in changes:
        plan.metadata_ = changes["metadata"]
    await session.flush()
    await record_event(
        session,
        merchant_id,
        "plan.updated",
        {"plan_id": plan.id, "changed": sorted(changes)},
        now=now,
    )
    return plan
