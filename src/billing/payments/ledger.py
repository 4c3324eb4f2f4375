"""The sandbox gateway's ledger on the ``sandbox_entries`` table.

Every process of a deployment (API, workers, CLI) sees the same sandbox "bank", so a charge
made by a worker can be found by the API's recovery and paid by the test helper.

Each operation is one short statement of its own, never part of the caller's transaction:
the gateway is called between our units of work, and its state must survive our rollbacks
exactly like a real gateway's does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from billing.db import statements_alone
from billing.gateways.ledger import JSONObject
from billing.models import SandboxEntry

_TABLE = SandboxEntry.__table__


class DbLedger:
    """``SandboxLedger`` on the database; ``incr`` is one atomic upsert."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._postgres = engine.dialect.name == "postgresql"
        self._own: AsyncEngine | None = None
        if self._postgres:
            # A pool of its own, tuned for a fake bank's many one-statement writes: each
            # statement is atomic on its own (autocommit: no BEGIN/COMMIT round trips), no
            # pre-ping round trip per checkout, and no WAL flush wait per write (a crash of
            # PostgreSQL may forget the sandbox's last instants; our own tables are not
            # affected). SQLite keeps the shared engine and its BEGIN IMMEDIATE (db.py).
            self._own = create_async_engine(
                engine.url,
                pool_size=10,
                max_overflow=10,
                isolation_level="AUTOCOMMIT",
                connect_args={"server_settings": {"synchronous_commit": "off"}},
            )
        self._engine = self._own or engine
        self._insert: Any = postgresql.insert if self._postgres else sqlite.insert

    async def aclose(self) -> None:
        if self._own is not None:
            await self._own.dispose()

    async def get(self, key: str) -> JSONObject | None:
        query = select(_TABLE.c.value).where(_TABLE.c.key == key)
        async with self._engine.connect() as conn:
            if not self._postgres:  # PostgreSQL: the ledger's own engine is in autocommit
                # One SELECT, atomic on its own: without BEGIN IMMEDIATE it needs no write
                # lock, so a gateway read from inside one of our write transactions (a
                # webhook handler's) does not wait on that very transaction's lock.
                await conn.execution_options(**statements_alone("sqlite"))
            value = await conn.scalar(query)
        return dict(value) if value is not None else None

    async def put(self, key: str, value: JSONObject) -> None:
        stmt = self._insert(_TABLE).values(key=key, value=value, counter=0)
        stmt = stmt.on_conflict_do_update(index_elements=[_TABLE.c.key], set_={"value": value})
        async with self._engine.begin() as conn:
            await conn.execute(stmt)

    async def incr(self, key: str, by: int = 1) -> int:
        # INSERT for the first time, otherwise counter = counter + by; RETURNING makes the
        # read part of the same atomic statement (two processes never see the same value).
        stmt = self._insert(_TABLE).values(key=key, value=None, counter=by)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key], set_={"counter": _TABLE.c.counter + by}
        ).returning(_TABLE.c.counter)
        async with self._engine.begin() as conn:
            value = await conn.scalar(stmt)
        return int(value)
