"""Time buckets for reports over time: calendar days, ISO weeks or months in the
merchant's timezone (a Brazilian merchant's April starts at 03:00 UTC), turned into UTC
boundaries so the grouping itself is a portable ``CASE`` in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, literal

from billing.kit.errors import ValidationFailed

INTERVALS = ("day", "week", "month")
MAX_BUCKETS = 400
# What a report covers when the caller gives no ``from``.
DEFAULT_BUCKETS = {"day": 30, "week": 12, "month": 12}


@dataclass(frozen=True)
class Buckets:
    starts: list[date]  # local calendar start of each bucket
    bounds: list[datetime]  # UTC; len(starts) + 1, the last one closes the final bucket

    def index(self, column: Any, *, before: int | None = None) -> ColumnElement[Any]:
        """The bucket number of ``column``; ``before`` for values before the first bucket
        (None leaves them NULL, like values past the last one)."""
        whens: list[tuple[ColumnElement[bool], Any]] = []
        if before is not None:
            whens.append((column < self.bounds[0], literal(before)))
        for i, upper in enumerate(self.bounds[1:]):
            whens.append((column < upper, literal(i)))
        return case(*whens, else_=None)


def _align(interval: str, d: date) -> date:
    if interval == "month":
        return d.replace(day=1)
    if interval == "week":
        return d - timedelta(days=d.weekday())
    return d


def _next(interval: str, d: date) -> date:
    if interval == "month":
        return date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return d + timedelta(days=7 if interval == "week" else 1)


def _back(interval: str, d: date, n: int) -> date:
    if interval == "month":
        months = d.year * 12 + d.month - 1 - n
        return date(months // 12, months % 12 + 1, 1)
    return d - timedelta(days=n * (7 if interval == "week" else 1))


def buckets(
    interval: str, start: date | None, end: date | None, *, now: datetime, timezone: str
) -> Buckets:
    """Buckets from the one holding ``start`` through the one holding ``end`` (both
    inclusive local dates; ``end`` defaults to today, ``start`` to a year of months,
    12 weeks or 30 days before it)."""
    if interval not in INTERVALS:
        raise ValidationFailed("interval", f"one of {', '.join(INTERVALS)}")
    tz = ZoneInfo(timezone)
    end = end or now.astimezone(tz).date()
    first = (
        _align(interval, start)
        if start
        else _back(interval, _align(interval, end), DEFAULT_BUCKETS[interval] - 1)
    )
    if first > end:
        raise ValidationFailed("from", "on or before to")
    starts = [first]
    while (nxt := _next(interval, starts[-1])) <= end:
        starts.append(nxt)
        if len(starts) > MAX_BUCKETS:
            raise ValidationFailed("from", f"at most {MAX_BUCKETS} {interval}s before to")
    edges = [*starts, _next(interval, starts[-1])]
    bounds = [datetime.combine(d, time(), tzinfo=tz).astimezone(UTC) for d in edges]
    return Buckets(starts, bounds)
