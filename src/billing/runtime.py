"""Everything a process needs at run time, built once from the settings.

The API, the arq worker and the CLI each build one Runtime; tests build their own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from billing.config import Settings
from billing.db import make_engine
from billing.jobs import DISPATCHER_KEY, Dispatcher, JobContext, load_tasks
from billing.kit.clock import Clock, make_clock
from billing.kit.secrets import SecretBox
from billing.queue import ArqDispatcher, InProcessQueue

ON_CLOSE = "on_close"  # runtime.extra[ON_CLOSE]: async callables run by close()


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    clock: Clock
    dispatcher: Dispatcher
    secret_box: SecretBox
    queue: InProcessQueue | None = None
    redis: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    # One per pooled connection: a request waits here, in arrival order (asyncio's
    # Semaphore is fair), not in the pool. Made lazily, on the loop that serves requests.
    _request_slots: asyncio.Semaphore | None = None

    @property
    def request_slots(self) -> asyncio.Semaphore:
        if self._request_slots is None:
            self._request_slots = asyncio.Semaphore(self.settings.db_pool_size)
        return self._request_slots

    @property
    def job_context(self) -> JobContext:
        return JobContext(
            settings=self.settings,
            session_factory=self.session_factory,
            clock=self.clock,
            dispatcher=self.dispatcher,
            extra={"runtime": self, **self.extra},
        )

    async def close(self) -> None:
        if self.queue is not None:
            await self.queue.stop()
        # Resources made on demand by components (e.g. gateway clients and their pools).
        for closer in self.extra.pop(ON_CLOSE, []):
            await closer()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def session_factory_for(
    engine: AsyncEngine, dispatcher: Dispatcher
) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=True, info={DISPATCHER_KEY: dispatcher}
    )


async def build_runtime(
    settings: Settings,
    *,
    dispatcher: Dispatcher | None = None,
    clock: Clock | None = None,
    start_queue: bool = True,
) -> Runtime:
    """Builds the runtime; with no Redis configured, jobs run in an in-process queue."""
    load_tasks()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    queue: InProcessQueue | None = None
    redis = None
    if dispatcher is None:
        if settings.redis_url:
            from arq import create_pool
            from arq.connections import RedisSettings

            redis = await create_pool(RedisSettings.from_dsn(settings.redis_url))
            dispatcher = ArqDispatcher(redis)
        else:
            queue = InProcessQueue()
            dispatcher = queue
    runtime = Runtime(
        settings=settings,
        engine=engine,
        session_factory=session_factory_for(engine, dispatcher),
        clock=clock or make_clock(settings.clock),
        dispatcher=dispatcher,
        secret_box=SecretBox(settings.secret_key),
        queue=queue,
        redis=redis,
    )
    if queue is not None and start_queue:
        # Under the simulated clock, time only moves by advance_clock, which runs the sweeps
        # itself; ticking would only repeat work at a standing "now".
        tick = None if settings.simulated_clock else settings.scheduler_interval
        queue.start(runtime.job_context, tick_interval=tick)
    return runtime
