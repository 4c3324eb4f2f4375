"""Shared fixtures: real databases (SQLite and PostgreSQL), a runtime, an app client.

With CI=true, a test that needs PostgreSQL, Redis or Chromium fails when it is missing;
elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing.config import Settings
from billing.db import unit_of_work
from billing.kit.clock import FixedClock
from billing.merchants.service import create_merchant
from billing.migrate import upgrade
from billing.queue import InlineDispatcher
from billing.runtime import Runtime, build_runtime

CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("BILLING_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BILLING_TEST_REDIS", "redis://127.0.0.1:6379/0")
BACKENDS = os.environ.get("BILLING_TEST_BACKENDS", "sqlite,postgres").split(",")
START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def require_service(name: str, host: str, port: int) -> None:
    if _port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if CI:
        pytest.fail(message + " (CI=true: this test must run)")
    pytest.skip(message)


def require_postgres() -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)


def require_redis() -> None:
    require_service("Redis", "127.0.0.1", 6379)


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL + "/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database() -> str:
    require_postgres()
    name = f"billing_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    return name


def drop_pg_database(name: str) -> None:
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Database:
    backend: str
    url: str


def make_database(backend: str, tmp: Path, *, migrate: bool = True) -> tuple[Database, Any]:
    """A new empty database of that backend, migrated to head; returns it and a cleanup."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / f'billing-{uuid.uuid4().hex[:8]}.sqlite3'}"
        cleanup = lambda: None  # noqa: E731
    else:
        name = create_pg_database()
        url = f"{PG_ADMIN_URL.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
        cleanup = lambda: drop_pg_database(name)  # noqa: E731
    if migrate:
        upgrade(url)
    return Database(backend, url), cleanup


@pytest.fixture(scope="session", params=BACKENDS)
def database_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One database per backend built by Alembic (never create_all); tests get copies."""
    db, cleanup = make_database(request.param, tmp_path_factory.mktemp("template"))
    yield db
    cleanup()


def clone_database(template: Database, tmp: Path) -> tuple[Database, Any]:
    """A copy of the migrated template: a file copy on SQLite, TEMPLATE on PostgreSQL."""
    if template.backend == "sqlite":
        source = Path(template.url.split(":///", 1)[1])
        target = tmp / f"billing-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(source, target)
        return Database("sqlite", f"sqlite+aiosqlite:///{target}"), lambda: None
    source_name = template.url.rsplit("/", 1)[1]
    name = f"billing_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{source_name}"'))
    url = template.url.rsplit("/", 1)[0] + f"/{name}"
    return Database("postgres", url), lambda: drop_pg_database(name)


@pytest.fixture
def database(database_template: Database, tmp_path: Path) -> Iterator[Database]:
    """A database of the test's own, so global sweeps (billing run, retries, ruler) and the
    shared simulated clock only ever see that test's rows."""
    db, cleanup = clone_database(database_template, tmp_path)
    yield db
    cleanup()


@pytest.fixture
def fresh_database(database: Database) -> Database:
    """Kept for readability in tests that depend on having the database to themselves."""
    return database


def settings_for(db: Database, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url,
        "secret_key": "test-secret-key",
        "base_url": "http://testserver.local",
        "data_dir": Path("/tmp/billing-test-data"),
        "log_format": "json",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


async def make_runtime(db: Database, clock: Any, **overrides: Any) -> Runtime:
    dispatcher = InlineDispatcher()
    runtime = await build_runtime(settings_for(db, **overrides), dispatcher=dispatcher, clock=clock)
    dispatcher.ctx = runtime.job_context
    return runtime


@pytest.fixture
async def runtime(database: Database, clock: FixedClock) -> AsyncIterator[Runtime]:
    rt = await make_runtime(database, clock)
    yield rt
    await rt.close()


def app_client(runtime: Runtime, **app_kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client calling the app in this event loop (the runtime is the test's)."""
    from billing.app import create_app

    app: Any = create_app(runtime=runtime, **app_kwargs)  # an ASGI app; typed stricter by httpx
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    )


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(runtime) as test_client:
        yield test_client


@dataclass
class MerchantAccount:
    id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def new_merchant(runtime: Runtime, name: str = "Academia Forte") -> MerchantAccount:
    async with unit_of_work(runtime.session_factory) as session:
        merchant, key = await create_merchant(session, name=name, now=runtime.clock.now())
    return MerchantAccount(merchant.id, key)


@pytest.fixture
async def merchant(runtime: Runtime) -> MerchantAccount:
    return await new_merchant(runtime)
