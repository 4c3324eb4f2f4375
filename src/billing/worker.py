"""The arq worker: the same job registry as the embedded mode, plus the periodic sweeps as cron."""

from __future__ import annotations

import gc
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.typing import WorkerCoroutine

from billing.config import Settings, get_settings
from billing.jobs import PERIODIC, REGISTRY, load_tasks
from billing.observability import JOBS, configure_logging
from billing.queue import ArqDispatcher, run_job
from billing.runtime import Runtime, build_runtime


def _wrap(name: str) -> WorkerCoroutine:
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        runtime: Runtime = ctx["runtime"]
        try:
            result = await run_job(runtime.job_context, name, kwargs)
        except Exception:
            JOBS.labels(name, "error").inc()
            raise
        JOBS.labels(name, "ok").inc()
        return result

    run.__qualname__ = run.__name__ = name.replace(".", "_")
    return run


def _seconds_set(every: float) -> set[int]:
    step = max(1, int(every))
    return set(range(0, 60, step)) if step < 60 else {0}


def _minutes_set(every: float) -> set[int] | None:
    minutes = int(every // 60)
    if minutes <= 1:
        return None
    return set(range(0, 60, minutes)) if minutes < 60 else {0}


def build_worker_settings(settings: Settings | None = None) -> type:
    settings = settings or get_settings()
    if not settings.redis_url:
        raise SystemExit("billing worker needs BILLING_REDIS_URL")
    load_tasks()

    async def startup(ctx: dict[str, Any]) -> None:
        configure_logging(settings.log_format)
        runtime = await build_runtime(settings, dispatcher=ArqDispatcher(ctx["redis"]))
        ctx["runtime"] = runtime
        # Start-up objects live as long as the process: kept out of full collections, which
        # otherwise rescan them all (tens of ms each) while batches allocate (see app.py).
        gc.freeze()

    async def shutdown(ctx: dict[str, Any]) -> None:
        runtime: Runtime | None = ctx.get("runtime")
        if runtime is not None:
            # Gateway clients and their pools too, not only the database; arq closes the
            # Redis pool it lent the dispatcher.
            await runtime.close()

    from arq.worker import func

    functions = [func(_wrap(name), name=name) for name in REGISTRY]
    cron_jobs = [
        cron(
            _wrap(p.name),
            name=f"cron:{p.name}",
            second=_seconds_set(p.every.total_seconds()) if p.every.total_seconds() < 60 else {0},
            minute=_minutes_set(p.every.total_seconds()),
            unique=True,
            run_at_startup=True,
        )
        for p in PERIODIC.values()
    ]
    attrs: dict[str, Any] = {
        "functions": functions,
        "cron_jobs": cron_jobs,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        # arq's defaults (poll_delay 0.5 s, max_jobs 10) cap a worker near 200 jobs/s.
        "poll_delay": 0.05,
        "queue_read_limit": 500,
        "max_jobs": 200,
        "job_timeout": 300,
        "keep_result": 60,
        "allow_abort_jobs": False,
        "handle_signals": True,
    }
    return type("WorkerSettings", (), attrs)
