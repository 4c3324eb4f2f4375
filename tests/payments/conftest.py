"""Payment fixtures: a runtime on a database of its own for tests that sweep globally."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from billing.kit.clock import FixedClock
from billing.payments.gateway_registry import close_gateways
from billing.runtime import Runtime
from tests.conftest import Database, app_client, make_runtime
from tests.fixtures_stripe import localstripe_url

__all__ = ["localstripe_url"]


@pytest.fixture
async def own_runtime(fresh_database: Database, clock: FixedClock) -> AsyncIterator[Runtime]:
    """``charge_due`` and recovery sweep every merchant: keep them off the shared database."""
    rt = await make_runtime(fresh_database, clock)
    yield rt
    await close_gateways(rt.job_context)
    await rt.close()


@pytest.fixture
async def own_client(own_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(own_runtime) as client:
        yield client
