"""Plans API."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.clock import Clock
from billing.models import Merchant
from billing.plans import service
from billing.plans.schemas import PlanCreate, PlanList, PlanOut, PlanPatch


class PlanController(Controller):
    path = "/v1/plans"
    tags = ["plans"]

    @post("/")
    async def create(
        self, data: PlanCreate, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> PlanOut:
        return PlanOut.of(await service.create_plan(db_session, merchant.id, data, now=clock.now()))

    @get("/")
    async def list_plans(
        self,
        merchant: Merchant,
        db_session: AsyncSession,
        active: bool | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> PlanList:
        rows, more = await service.list_plans(
            db_session, merchant.id, active=active, limit=limit, starting_after=starting_after
        )
        return PlanList([PlanOut.of(p) for p in rows], more)

    @get("/{plan_id:str}")
    async def show(self, plan_id: str, merchant: Merchant, db_session: AsyncSession) -> PlanOut:
        return PlanOut.of(await service.get_plan(db_session, merchant.id, plan_id))

    @patch("/{plan_id:str}")
    async def update(
        self,
        plan_id: str,
        data: PlanPatch,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
    ) -> PlanOut:
        plan = await service.update_plan(
            db_session, merchant.id, plan_id, data.changes(), now=clock.now()
        )
        return PlanOut.of(plan)
