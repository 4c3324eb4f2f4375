"""Request-scoped dependencies: the transaction, the clock, the authenticated merchant."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from billing.db import READ_ONLY, statements_alone
from billing.jobs import flush_after_commit
from billing.kit.clock import Clock
from billing.kit.errors import Unauthorized
from billing.merchants.service import authenticate
from billing.models import ApiKey, Merchant
from billing.runtime import Runtime

# Route option: the handler's page only reads, and may read without a transaction.
AUTOCOMMIT_READS = "autocommit_reads"


def get_runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


async def provide_db_session(
    state: State, request: Request[Any, Any, Any], clock: NamedDependency[Clock]
) -> AsyncGenerator[AsyncSession, None]:
    """The request owns the transaction: commit after the handler, roll back on error.

    It takes the clock (which it syncs) so that Litestar resolves the two one after the
    other: dependencies resolved side by side cost a task group per request."""
    runtime = get_runtime(state)
    reading = request.method in ("GET", "HEAD")
    # Reads keep their connection to the end and queue for a slot in arrival order. Writes
    # go straight to the pool: a payment commits its attempt and gives the connection back
    # while it waits on the gateway, and a slot held meanwhile would make every page wait
    # behind a slow gateway.
    slot = runtime.request_slots if reading else contextlib.nullcontext()
    async with slot, runtime.session_factory() as session:
        autocommit = False
        if reading:
            options: dict[str, Any] = {READ_ONLY: True}
            if request.route_handler.opt.get(AUTOCOMMIT_READS):
                options |= statements_alone(runtime.engine.dialect.name)
                autocommit = True
            await session.connection(execution_options=options)
        if clock.simulated:
            await clock.sync(session)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        if autocommit:
            return  # nothing to commit, no job to hand on: closing returns the connection
        await session.commit()
        await flush_after_commit(session)


async def provide_db_reader(
    state: State, clock: NamedDependency[Clock]
) -> AsyncGenerator[AsyncConnection, None]:
    """A connection for a page that only reads, in plain SQL: no ORM session (its
    bookkeeping costs more than such a page's one query) and no BEGIN/COMMIT."""
    runtime = get_runtime(state)
    async with runtime.request_slots, runtime.engine.connect() as connection:
        await connection.execution_options(**statements_alone(runtime.engine.dialect.name))
        if clock.simulated:
            async with AsyncSession(bind=connection) as session:
                await clock.sync(session)
        yield connection


async def provide_auth(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> tuple[Merchant, ApiKey]:
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise Unauthorized("Send your API key as 'Authorization: Bearer sk_test_…'.")
    found = await authenticate(db_session, raw.strip())
    if found is None:
        raise Unauthorized("The API key is wrong or has been revoked.")
    return found


async def provide_merchant(auth: NamedDependency[tuple[Merchant, ApiKey]]) -> Merchant:
    return auth[0]
