"""``POST /v1/portal_sessions``: the merchant asks for a payer's single-use portal link."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.clock import Clock
from billing.models import Merchant
from billing.portal import sessions
from billing.portal.web import settings_of


class PortalSessionCreate(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: str
    return_url: str | None = None
    locale: str | None = None


class PortalSessionOut(msgspec.Struct):
    id: str
    url: str
    expires_at: datetime
    customer_id: str
    return_url: str | None
    locale: str
    object: str = "portal_session"


class PortalSessionController(Controller):
    path = "/v1/portal_sessions"
    tags = ["portal"]

    @post("/", status_code=201)
    async def create(
        self,
        data: PortalSessionCreate,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
        state: State,
    ) -> PortalSessionOut:
        portal, raw = await sessions.create_session(
            db_session,
            merchant.id,
            customer_id=data.customer_id,
            return_url=data.return_url,
            locale=data.locale,
            now=clock.now(),
        )
        return PortalSessionOut(
            id=portal.id,
            url=f"{settings_of(state).base_url}/portal/s/{raw}",
            expires_at=portal.link_expires_at,
            customer_id=portal.customer_id,
            return_url=portal.return_url,
            locale=portal.locale,
        )
