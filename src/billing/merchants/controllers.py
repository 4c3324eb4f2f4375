from __future__ import annotations

from litestar import Controller, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.clock import Clock
from billing.merchants import service
from billing.merchants.schemas import ApiKeyList, ApiKeyOut, MerchantOut, MerchantPatch
from billing.models import ApiKey, Merchant


class MerchantController(Controller):
    path = "/v1/merchant"
    tags = ["merchant"]

    @get("/")
    async def show(self, merchant: Merchant) -> MerchantOut:
        return MerchantOut.of(merchant)

    @patch("/")
    async def update(
        self, merchant: Merchant, data: MerchantPatch, db_session: AsyncSession, clock: Clock
    ) -> MerchantOut:
        updated = await service.update_profile(
            db_session, merchant, data.changes(), now=clock.now()
        )
        return MerchantOut.of(updated)


class ApiKeyController(Controller):
    path = "/v1/api_keys"
    tags = ["merchant"]

    @get("/")
    async def list_keys(self, merchant: Merchant, db_session: AsyncSession) -> ApiKeyList:
        keys = await service.list_api_keys(db_session, merchant.id)
        return ApiKeyList([ApiKeyOut.of(k) for k in keys])

    @post("/")
    async def create_key(
        self, auth: tuple[Merchant, ApiKey], db_session: AsyncSession, clock: Clock
    ) -> ApiKeyOut:
        merchant, current = auth
        key, raw = await service.issue_api_key(
            db_session, merchant.id, live=current.livemode, now=clock.now()
        )
        return ApiKeyOut.of(key, secret=raw)

    @post("/{key_id:str}/revoke", status_code=200)
    async def revoke_key(
        self, key_id: str, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> ApiKeyOut:
        key = await service.revoke_api_key(db_session, merchant.id, key_id, now=clock.now())
        return ApiKeyOut.of(key)
