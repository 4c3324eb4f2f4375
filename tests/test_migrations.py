"""Migrations are the only way the schema changes: up, down and up again on both databases,
and the models never drift from what the migrations build."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from billing.db import Base, make_engine
from billing.migrate import alembic_config, downgrade, upgrade
from tests.conftest import BACKENDS, make_database


def _tables(url: str) -> set[str]:
    import asyncio

    async def read() -> set[str]:
        engine = make_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await engine.dispose()
        return names

    return asyncio.run(read())


def _drift(url: str) -> list[object]:
    import asyncio

    async def diff() -> list[object]:
        engine = make_engine(url)
        async with engine.connect() as conn:
            result = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        await engine.dispose()
        return list(result)

    return asyncio.run(diff())


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_downgrade_upgrade(backend: str, tmp_path: Path) -> None:
    db, cleanup = make_database(backend, tmp_path, migrate=False)
    try:
        assert "merchants" not in _tables(db.url)
        upgrade(db.url)
        after_up = _tables(db.url)
        assert {"merchants", "api_keys", "invoices", "payment_attempts"} <= after_up
        assert _drift(db.url) == []
        downgrade(db.url, "base")
        assert _tables(db.url) <= {"alembic_version"}
        upgrade(db.url)
        assert _tables(db.url) == after_up
    finally:
        cleanup()


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_revision_steps_down_one_at_a_time(backend: str, tmp_path: Path) -> None:
    db, cleanup = make_database(backend, tmp_path)
    try:
        config = alembic_config(db.url)
        from alembic.script import ScriptDirectory

        revisions = list(ScriptDirectory.from_config(config).walk_revisions())
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1
        for _ in revisions:
            command.downgrade(config, "-1")
        assert _tables(db.url) <= {"alembic_version"}
    finally:
        cleanup()
