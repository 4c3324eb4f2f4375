"""Engine, sessions, the declarative Base and the unit of work that owns transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Execution option marking a transaction that only reads.
READ_ONLY = "billing_read_only"
# SQLite: run without BEGIN, each statement on its own (the driver is in autocommit mode,
# see _tune_sqlite): for pages that only read.
NO_BEGIN = "billing_no_begin"


def statements_alone(dialect_name: str) -> dict[str, Any]:
    """Execution options for reads that need no transaction, each statement on its own
    snapshot: no BEGIN/COMMIT round trips on PostgreSQL, no BEGIN IMMEDIATE (the write
    lock) and no hops to aiosqlite's thread for them on SQLite."""
    if dialect_name == "postgresql":
        return {"isolation_level": "AUTOCOMMIT"}
    return {NO_BEGIN: True}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Connections beyond the pool for work outside the reading gate (writes, jobs, the inbox).
POOL_OVERFLOW = 10


def make_engine(url: str, *, pool_size: int = 20, **kwargs: Any) -> AsyncEngine:
    """Reading requests take one of ``pool_size`` slots before a connection
    (Runtime.request_slots), so they never wait inside the pool (which lets newcomers
    overtake waiters and opens and closes overflow connections, a server process each on
    PostgreSQL); writes, jobs and the webhook inbox share the pool and its overflow."""
    sqlite_path = url.split(":///", 1)[-1] if url.startswith("sqlite") else None
    if sqlite_path not in ("", ":memory:"):  # in-memory SQLite: one shared connection, no pool
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    if sqlite_path is not None:
        if sqlite_path not in ("", ":memory:"):
            Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _tune_sqlite(engine)
        return engine
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _drop_closed_connections(engine)
    return engine


def _drop_closed_connections(engine: AsyncEngine) -> None:
    """A pooled connection the server has closed (restart, idle timeout, terminated
    backend) is replaced at checkout. asyncpg notices the closed socket by itself, so this
    costs no round trip; SQLAlchemy's pre-ping would cost three per checkout (BEGIN, a
    query, ROLLBACK), a third of a portal page's. A connection that dies silently still
    fails its next statement, and the pool then discards it."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        is_closed = getattr(driver, "is_closed", None)
        if is_closed is not None and is_closed():
            raise DisconnectionError("the server closed this pooled connection")


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers run beside the one writer; busy_timeout waits instead of failing.
        # We emit BEGIN ourselves (below), so the driver must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock at BEGIN: SQLite's deferred read-to-write upgrade fails at once
        # under concurrency instead of waiting. Read-only work (GET requests) begins deferred
        # so readers run beside the writer (WAL).
        options = conn.get_execution_options()
        if options.get(NO_BEGIN):
            return
        if options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commits on success, rolls back on error, then hands buffered jobs on.

    Services never commit; whoever opens the unit of work owns the transaction.
    """
    from billing.jobs import flush_after_commit

    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        await flush_after_commit(session)
