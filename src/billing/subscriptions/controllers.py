"""Subscriptions API."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from billing.http import get_runtime
from billing.kit.clock import Clock
from billing.models import Merchant
from billing.subscriptions import plan_change, service, signup
from billing.subscriptions.schemas import (
    CancelIn,
    ChangePlanIn,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionOut,
)


class SubscriptionController(Controller):
    path = "/v1/subscriptions"
    tags = ["subscriptions"]

    @post("/")
    async def create(
        self, data: SubscriptionCreate, merchant: Merchant, db_session: AsyncSession, state: State
    ) -> SubscriptionOut:
        merchant_id = merchant.id
        # Sign-up runs its own units of work (subscription, then the charge); end the
        # request's authentication transaction so SQLite's single writer is free for them.
        await db_session.commit()
        return await signup.subscribe(get_runtime(state).job_context, merchant_id, data)

    @get("/")
    async def list_subscriptions(
        self,
        merchant: Merchant,
        db_session: AsyncSession,
        customer_id: str | None = None,
        plan_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> SubscriptionList:
        rows, more = await service.list_subscriptions(
            db_session,
            merchant.id,
            customer_id=customer_id,
            plan_id=plan_id,
            status=status,
            limit=limit,
            starting_after=starting_after,
        )
        return SubscriptionList(rows, more)

    @get("/{subscription_id:str}")
    async def show(
        self, subscription_id: str, merchant: Merchant, db_session: AsyncSession
    ) -> SubscriptionOut:
        return await service.subscription_view(db_session, merchant.id, subscription_id)

    @post("/{subscription_id:str}/cancel", status_code=200)
    async def cancel(
        self,
        subscription_id: str,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
        data: CancelIn | None = None,
    ) -> SubscriptionOut:
        return await service.cancel_subscription(
            db_session,
            merchant.id,
            subscription_id,
            at_period_end=(data or CancelIn()).at_period_end,
            now=clock.now(),
        )

    @post("/{subscription_id:str}/pause", status_code=200)
    async def pause(
        self, subscription_id: str, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> SubscriptionOut:
        return await service.pause_subscription(
            db_session, merchant.id, subscription_id, now=clock.now()
        )

    @post("/{subscription_id:str}/resume", status_code=200)
    async def resume(
        self, subscription_id: str, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> SubscriptionOut:
        return await service.resume_subscription(
            db_session, merchant.id, subscription_id, now=clock.now()
        )

    @post("/{subscription_id:str}/change_plan", status_code=200)
    async def change_plan(
        self,
        subscription_id: str,
        data: ChangePlanIn,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
    ) -> SubscriptionOut:
        return await plan_change.change_plan(
            db_session,
            merchant.id,
            subscription_id,
            plan_id=data.plan_id,
            proration=data.proration,
            now=clock.now(),
        )
