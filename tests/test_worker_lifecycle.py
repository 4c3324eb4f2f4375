"""The arq worker's start-up builds a runtime; its shutdown closes all of it (database and
the gateway clients components opened on demand), not only the engine."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from billing.runtime import ON_CLOSE
from billing.worker import build_worker_settings
from tests.conftest import Database, settings_for


async def test_shutdown_closes_what_components_opened(database: Database, tmp_path: Path) -> None:
    settings = settings_for(database, redis_url="redis://127.0.0.1:6379/15")
    worker = build_worker_settings(settings)
    ctx: dict[str, Any] = {"redis": object()}  # the dispatcher only keeps it
    await worker.on_startup(ctx)  # type: ignore[attr-defined]
    gc.unfreeze()  # start-up freezes the heap for a long-lived worker, not for this test run
    closed: list[str] = []

    async def close_gateway() -> None:
        closed.append("gateway")

    ctx["runtime"].extra.setdefault(ON_CLOSE, []).append(close_gateway)
    await worker.on_shutdown(ctx)  # type: ignore[attr-defined]
    assert closed == ["gateway"]
