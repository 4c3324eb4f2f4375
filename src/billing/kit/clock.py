"""The injectable clock: system time, or a simulated "now" shared by every process.

The simulated clock's value lives in the database (table ``clock_state``) so that the API,
the workers and the CLI of one deployment agree on the time. Code reads ``clock.now()``
synchronously; callers refresh a simulated clock from the database at the start of each
request or job (``await clock.sync(session)``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


class Clock(ABC):
    """A base class, not a Protocol: Litestar checks every injected value with isinstance,
    and isinstance on a runtime-checkable Protocol inspects each member, on every request."""

    simulated: bool

    @abstractmethod
    def now(self) -> datetime: ...

    @abstractmethod
    async def sync(self, session: AsyncSession) -> datetime: ...


class SystemClock(Clock):
    simulated = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sync(self, session: AsyncSession) -> datetime:
        return self.now()


class SimulatedClock(Clock):
    """Starts at the real time the first time a deployment uses it, then moves only forward."""

    simulated = True

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    async def sync(self, session: AsyncSession) -> datetime:
        from billing.models.clock_state import ClockState

        row = await session.scalar(select(ClockState).where(ClockState.id == 1))
        if row is None:
            session.add(ClockState(id=1, now=self._now))
            await session.flush()
        else:
            self._now = row.now
        return self._now

    async def advance(self, session: AsyncSession, to: datetime) -> datetime:
        """Move the shared clock forward (never backward) inside the caller's transaction."""
        from billing.models.clock_state import ClockState

        if to.tzinfo is None:
            raise ValueError("the clock only accepts timezone-aware times")
        await self.sync(session)
        if to < self._now:
            raise ValueError("the simulated clock only moves forward")
        row = await session.get(ClockState, 1, with_for_update=True)
        assert row is not None
        row.now = to
        self._now = to
        await session.flush()
        return to


class FixedClock(Clock):
    """For unit tests: a clock you set by hand."""

    simulated = True

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now

    async def sync(self, session: AsyncSession) -> datetime:
        return self._now


def make_clock(kind: str) -> Clock:
    return SimulatedClock() if kind == "simulated" else SystemClock()
