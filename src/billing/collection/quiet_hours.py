"""When the collection ruler may contact a payer.

Quiet hours are a local wall-clock window in the merchant's zone; a window whose start
is after its end wraps midnight (20:00–08:00), start == end means none. The weekly cap
is a rolling 7-day window: a contact counts while ``at - 7 days < sent <= at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from billing.subscriptions.periods import local_to_utc, to_local

WEEK = timedelta(days=7)


def next_allowed_time(at: datetime, quiet_start: time, quiet_end: time, tz: str) -> datetime:
    """`at` unchanged if outside quiet hours, else the first instant at `quiet_end` local.

    The window is [quiet_start, quiet_end): exactly at the start is quiet, exactly at the
    end is allowed. A `quiet_end` inside a DST gap resolves to the first valid instant.
    """
    if quiet_start == quiet_end:
        return at
    local = to_local(at, tz)
    now = local.time()
    if quiet_start < quiet_end:
        if not quiet_start <= now < quiet_end:
            return at
        day = local.date()
    elif now >= quiet_start:
        day = local.date() + timedelta(days=1)  # evening part of a window wrapping midnight
    elif now < quiet_end:
        day = local.date()
    else:
        return at
    allowed = local_to_utc(datetime.combine(day, quiet_end), tz)
    if allowed < at:
        # `at` is in the repeated hour of a fall-back night: the end it waits for is
        # the second occurrence of that wall time.
        second = datetime.combine(day, quiet_end).replace(tzinfo=ZoneInfo(tz), fold=1)
        allowed = second.astimezone(UTC)
    return allowed


def _in_window(sent_times: Sequence[datetime], at: datetime) -> list[datetime]:
    return sorted(s for s in sent_times if at - WEEK < s <= at)


def within_weekly_cap(sent_times: Sequence[datetime], at: datetime, max_per_week: int) -> bool:
    """Whether one more contact at `at` keeps the rolling 7 days within `max_per_week`."""
    if max_per_week < 1:
        raise ValueError("max_per_week must be at least 1")
    return len(_in_window(sent_times, at)) < max_per_week


def next_slot_under_cap(
    sent_times: Sequence[datetime], at: datetime, max_per_week: int
) -> datetime:
    """The earliest instant >= `at` at which one more contact fits under the cap.

    `sent_times` are past contacts; those after `at` are ignored.
    """
    if within_weekly_cap(sent_times, at, max_per_week):
        return at
    window = _in_window(sent_times, at)
    # Enough of the oldest contacts must age out to leave max_per_week - 1 in the window.
    return window[len(window) - max_per_week] + WEEK


def ruler_step_time(
    due_at: datetime, offset_days: int, tz: str, send_at: time = time(10)
) -> datetime:
    """UTC instant of the ruler step at D+`offset_days` (negative = before the due date).

    Counted in calendar days from the due date as the payer sees it (local), at
    `send_at` local time.
    """
    due_day = to_local(due_at, tz).date()
    return local_to_utc(datetime.combine(due_day + timedelta(days=offset_days), send_at), tz)
