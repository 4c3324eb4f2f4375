"""Billing period boundaries, computed from the anchor on the merchant's local calendar.

Boundary n is always computed from the anchor, never from boundary n-1, so clamping in a
short month does not leak into later ones: a Jan 31 anchor gives Feb 28 (29 in leap
years), Mar 31, Apr 30, May 31. Arithmetic is done on the local wall clock (IANA zone),
so a plan billed at 09:00 local stays at 09:00 local across DST changes; the result is
converted back to UTC. Local times that do not exist (spring-forward gap) move forward
to the first valid instant; ambiguous ones (fall-back) take the first occurrence.
"""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

Interval = Literal["day", "week", "month", "year"]
INTERVALS: tuple[Interval, ...] = get_args(Interval)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def to_local(at: datetime, tz: str) -> datetime:
    """The naive wall-clock time of the instant `at` in zone `tz`."""
    _require_aware(at, "at")
    return at.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def local_to_utc(wall: datetime, tz: str) -> datetime:
    """The UTC instant of the naive local wall time `wall` in zone `tz`.

    Ambiguous wall times (fall-back) resolve to the first occurrence (fold=0).
    Nonexistent ones (spring-forward gap) resolve to the first valid instant after the
    gap, i.e. the transition itself (02:30 on a US spring-forward day → 03:00 EDT).
    """
    if wall.tzinfo is not None:
        raise ValueError("wall must be a naive local time")
    zone = ZoneInfo(tz)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap, fold=0 reads the wall with the offset before the transition (landing
    # after it) and fold=1 with the offset after (landing before it): bisect between.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    offset_before = before.astimezone(zone).utcoffset()
    lo, hi = math.floor(before.timestamp()), math.ceil(first.timestamp())

    def offset_at(ts: int) -> timedelta | None:
        return datetime.fromtimestamp(ts, UTC).astimezone(zone).utcoffset()

    # Transitions fall on whole seconds, so bisecting integer timestamps is exact.
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if offset_at(mid) == offset_before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def add_months(wall: datetime, months: int) -> datetime:
    """`wall` moved by whole calendar months, the day clamped to the month's last day."""
    year, month0 = divmod(wall.year * 12 + wall.month - 1 + months, 12)
    day = min(wall.day, calendar.monthrange(year, month0 + 1)[1])
    return wall.replace(year=year, month=month0 + 1, day=day)


def _shift(wall: datetime, interval: Interval, steps: int) -> datetime:
    if interval == "day":
        return wall + timedelta(days=steps)
    if interval == "week":
        return wall + timedelta(weeks=steps)
    if interval == "month":
        return add_months(wall, steps)
    if interval == "year":
        return add_months(wall, 12 * steps)
    raise ValueError(f"unknown interval {interval!r}")


def period_boundary(
    anchor: datetime, interval: Interval, interval_count: int, n: int, tz: str
) -> datetime:
    """Start (UTC) of period number `n`; period 0 starts at `anchor`."""
    _require_aware(anchor, "anchor")
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}")
    if interval_count < 1:
        raise ValueError("interval_count must be at least 1")
    if n < 0:
        raise ValueError("n must not be negative")
    if n == 0:
        # Returned as is: re-localizing could lose the anchor's fold in a repeated hour.
        return anchor.astimezone(UTC)
    return local_to_utc(_shift(to_local(anchor, tz), interval, n * interval_count), tz)


def period_bounds(
    anchor: datetime, interval: Interval, interval_count: int, index: int, tz: str
) -> tuple[datetime, datetime]:
    """(start, end) of period `index`; end is exclusive and is the next period's start."""
    return (
        period_boundary(anchor, interval, interval_count, index, tz),
        period_boundary(anchor, interval, interval_count, index + 1, tz),
    )


def next_period(
    anchor: datetime, interval: Interval, interval_count: int, current_index: int, tz: str
) -> tuple[datetime, datetime]:
    """(start, end) of the period after `current_index`, i.e. of period current_index+1."""
    return period_bounds(anchor, interval, interval_count, current_index + 1, tz)


def period_index_at(
    anchor: datetime, interval: Interval, interval_count: int, at: datetime, tz: str
) -> int:
    """Index of the period containing `at` (start <= at < end)."""
    _require_aware(at, "at")
    if at < anchor:
        raise ValueError("at is before the anchor")
    start, now = to_local(anchor, tz), to_local(at, tz)
    # A calendar estimate lands within a step or two; the boundaries settle it exactly.
    if interval in ("month", "year"):
        months = (now.year - start.year) * 12 + now.month - start.month
        index = months // (interval_count * (12 if interval == "year" else 1))
    else:
        days = (now.date() - start.date()).days
        index = days // (interval_count * (7 if interval == "week" else 1))
    index = max(index, 0)
    while index > 0 and period_boundary(anchor, interval, interval_count, index, tz) > at:
        index -= 1
    while period_boundary(anchor, interval, interval_count, index + 1, tz) <= at:
        index += 1
    return index


def trial_end(start: datetime, trial_days: int, tz: str) -> datetime:
    """End (UTC) of a trial: the same local wall time `trial_days` calendar days later."""
    if trial_days < 0:
        raise ValueError("trial_days must not be negative")
    return period_boundary(start, "day", 1, trial_days, tz)
