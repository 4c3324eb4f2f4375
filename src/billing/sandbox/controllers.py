"""``POST /v1/test_helpers/advance_clock`` (sandbox keys, simulated clock only)."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from billing.http import get_runtime
from billing.kit.errors import NotFound
from billing.models import ApiKey, Merchant
from billing.sandbox.clock import advance_clock


class AdvanceClockIn(msgspec.Struct, forbid_unknown_fields=True):
    to: datetime


class AdvanceClockOut(msgspec.Struct):
    now: datetime
    summary: dict[str, int]


class ClockController(Controller):
    path = "/v1/test_helpers"
    tags = ["sandbox"]

    @post("/advance_clock", status_code=200)
    async def advance(
        self,
        data: AdvanceClockIn,
        auth: tuple[Merchant, ApiKey],
        db_session: AsyncSession,
        state: State,
    ) -> AdvanceClockOut:
        if auth[1].livemode:
            raise NotFound("Test helpers only exist for sandbox (sk_test_) keys.")
        # The steps run their own units of work; free SQLite's writer from this request.
        await db_session.commit()
        result = await advance_clock(get_runtime(state), data.to)
        return AdvanceClockOut(now=result.now, summary=result.summary)
