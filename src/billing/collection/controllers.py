"""``/v1/settings/{dunning,collection,late_fees,negotiation,channels}``."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, put
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection import settings as service
from billing.collection.settings_schemas import (
    ChannelSettings,
    ChannelSettingsIn,
    CollectionSettings,
    CollectionSettingsIn,
    DunningSettings,
    DunningSettingsIn,
    LateFeeSettings,
    LateFeeSettingsIn,
    NegotiationSettings,
    NegotiationSettingsIn,
    present,
)
from billing.http import get_runtime
from billing.models import Merchant


class CollectionSettingsController(Controller):
    path = "/v1/settings"
    tags = ["collection policy"]

    @get("/dunning")
    async def get_dunning(self, merchant: Merchant, db_session: AsyncSession) -> DunningSettings:
        return msgspec.convert(await service.get_dunning(db_session, merchant.id), DunningSettings)

    @put("/dunning")
    async def put_dunning(
        self, merchant: Merchant, db_session: AsyncSession, data: DunningSettingsIn
    ) -> DunningSettings:
        saved = await service.put_dunning(db_session, merchant.id, present(data))
        return msgspec.convert(saved, DunningSettings)

    @get("/collection")
    async def get_collection(
        self, merchant: Merchant, db_session: AsyncSession
    ) -> CollectionSettings:
        return msgspec.convert(
            await service.get_collection(db_session, merchant.id), CollectionSettings
        )

    @put("/collection")
    async def put_collection(
        self, merchant: Merchant, db_session: AsyncSession, data: CollectionSettingsIn
    ) -> CollectionSettings:
        saved = await service.put_collection(db_session, merchant.id, present(data))
        return msgspec.convert(saved, CollectionSettings)

    @get("/late_fees")
    async def get_late_fees(self, merchant: Merchant, db_session: AsyncSession) -> LateFeeSettings:
        stored = await service.get_late_fees(db_session, merchant.id)
        return msgspec.convert(stored, LateFeeSettings, strict=False)

    @put("/late_fees")
    async def put_late_fees(
        self, merchant: Merchant, db_session: AsyncSession, data: LateFeeSettingsIn
    ) -> LateFeeSettings:
        saved = await service.put_late_fees(db_session, merchant, present(data))
        return msgspec.convert(saved, LateFeeSettings, strict=False)

    @get("/negotiation")
    async def get_negotiation(
        self, merchant: Merchant, db_session: AsyncSession
    ) -> NegotiationSettings:
        stored = await service.get_negotiation(db_session, merchant.id)
        return msgspec.convert(stored, NegotiationSettings, strict=False)

    @put("/negotiation")
    async def put_negotiation(
        self, merchant: Merchant, db_session: AsyncSession, data: NegotiationSettingsIn
    ) -> NegotiationSettings:
        saved = await service.put_negotiation(db_session, merchant.id, present(data))
        return msgspec.convert(saved, NegotiationSettings, strict=False)

    @get("/channels")
    async def get_channels(self, merchant: Merchant, db_session: AsyncSession) -> ChannelSettings:
        return msgspec.convert(await service.get_channels(db_session, merchant.id), ChannelSettings)

    @put("/channels")
    async def put_channels(
        self, merchant: Merchant, db_session: AsyncSession, data: ChannelSettingsIn, state: State
    ) -> ChannelSettings:
        box = get_runtime(state).secret_box
        saved = await service.put_channels(db_session, merchant.id, present(data), box)
        return msgspec.convert(saved, ChannelSettings)
