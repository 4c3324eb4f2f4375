"""Jobs: one registry used by both runtime modes, and the enqueue-after-commit buffer.

A job is ``async def fn(ctx: JobContext, **kwargs)``. It opens its own unit of work, reads
the time from ``ctx.clock`` and is safe to run twice: the database says what is due, the
queue only says "look now".
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from billing.config import Settings
    from billing.kit.clock import Clock

# Modules whose import registers jobs; both the embedded scheduler and arq load the same list.
TASK_MODULES = [
    "billing.events.tasks",
    "billing.idempotency.tasks",
    "billing.dunning.tasks",
    "billing.collection.tasks",
    "billing.webhooks.tasks",
    "billing.subscriptions.tasks",
    "billing.payments.tasks",
    "billing.negotiation.tasks",
]

PENDING_KEY = "billing.pending_jobs"
DISPATCHER_KEY = "billing.dispatcher"


@dataclass
class JobContext:
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    clock: Clock
    dispatcher: Dispatcher
    extra: dict[str, Any] = field(default_factory=dict)


JobFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Periodic:
    name: str
    func: JobFunc
    every: timedelta


@dataclass(frozen=True)
class JobCall:
    name: str
    job_id: str | None
    kwargs: dict[str, Any]


REGISTRY: dict[str, JobFunc] = {}
PERIODIC: dict[str, Periodic] = {}


def job(name: str) -> Callable[[JobFunc], JobFunc]:
    def register(func: JobFunc) -> JobFunc:
        REGISTRY[name] = func
        return func

    return register


def periodic(name: str, every: timedelta) -> Callable[[JobFunc], JobFunc]:
    """A sweep that selects due rows and enqueues or performs work; also a plain job."""

    def register(func: JobFunc) -> JobFunc:
        REGISTRY[name] = func
        PERIODIC[name] = Periodic(name, func, every)
        return func

    return register


def periodic_sweeps() -> list[Periodic]:
    """Every sweep in TASK_MODULES order (definition order within a module), whatever order
    the modules happened to be imported in: the sandbox clock runs the sweeps due at one
    instant in this order, so a run never depends on which code was imported first."""
    rank = {module: i for i, module in enumerate(TASK_MODULES)}

    def place(sweep: Periodic) -> tuple[int, int, str]:
        code = getattr(sweep.func, "__code__", None)
        line = code.co_firstlineno if code is not None else 0
        return rank.get(sweep.func.__module__, len(rank)), line, sweep.name

    return sorted(PERIODIC.values(), key=place)


def load_tasks() -> dict[str, JobFunc]:
    for module in TASK_MODULES:
        importlib.import_module(module)
    return REGISTRY


class Dispatcher(Protocol):
    async def dispatch(self, calls: list[JobCall]) -> None: ...


def enqueue_after_commit(
    session: AsyncSession, name: str, *, job_id: str | None = None, **kwargs: Any
) -> None:
    """Buffer a job on the session; it reaches the queue only if the transaction commits."""
    session.info.setdefault(PENDING_KEY, []).append(JobCall(name, job_id, kwargs))


def discard_pending(session: AsyncSession) -> None:
    session.info.pop(PENDING_KEY, None)


async def flush_after_commit(session: AsyncSession) -> None:
    calls: list[JobCall] = session.info.pop(PENDING_KEY, [])
    if not calls:
        return
    dispatcher: Dispatcher | None = session.info.get(DISPATCHER_KEY)
    if dispatcher is not None:
        await dispatcher.dispatch(calls)
