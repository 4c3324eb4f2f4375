"""When to retry a failed payment.

Rule (all times in the merchant's IANA time zone):

1. Retry k (k = 1, 2, ...) is due ``schedule_hours[k-1]`` hours after the *first*
   failure (default 24 h, 72 h, 120 h, 168 h). When every entry has been used the
   schedule is exhausted and there is no further retry.
2. A deterministic jitter in [0, ``jitter_minutes``) is added, derived from a SHA-256 of
   ``jitter_key`` (e.g. invoice id + attempt number), so retries do not all hit the
   gateway at once and recomputing the time after a crash gives the same answer.
3. The time is moved into business hours (default 09:00–18:00, Monday to Friday):
   before 09:00 → 09:00 the same day; at or after 18:00 → 09:00 the next day; Saturday
   or Sunday → Monday 09:00. A moved retry lands at 09:00 *plus the same jitter*, so a
   morning's retries are still spread out.
4. Optional payday shift, only for ``insufficient_funds`` declines: the retry moves to
   the next common Brazilian payday on or after it, at 09:00 + jitter (unchanged if it
   already falls on a payday). Paydays are the 5th business day of the month, the 15th
   and the 20th; a 15th or 20th on a weekend or holiday rolls to the next business day.
   Business days are Monday–Friday except Brazilian national holidays: Jan 1, Apr 21,
   May 1, Sep 7, Oct 12, Nov 2, Nov 15, Nov 20 (from 2024), Dec 25, Carnival Monday and
   Tuesday, Good Friday and Corpus Christi (the last four follow Easter; banks close).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from billing.subscriptions.periods import local_to_utc, to_local

DEFAULT_RETRY_SCHEDULE_HOURS: tuple[int, ...] = (24, 72, 120, 168)
INSUFFICIENT_FUNDS = "insufficient_funds"


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian / Meeus–Jones–Butcher algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    fixed = [(1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (12, 25)]
    if year >= 2024:  # Consciência Negra became national by Lei 14.759/2023.
        fixed.append((11, 20))
    easter = easter_sunday(year)
    movable = [easter + timedelta(days=delta) for delta in (-48, -47, -2, 60)]
    return frozenset([date(year, m, d) for m, d in fixed] + movable)


def brazil_national_holidays(year: int) -> set[date]:
    """Brazilian national (bank) holidays of `year`, including Carnival and Corpus Christi."""
    return set(_holidays(year))


def is_business_day(d: date) -> bool:
    return d.weekday() < 5 and d not in _holidays(d.year)


def next_business_day(d: date) -> date:
    """`d` itself if it is a business day, else the first business day after it."""
    while not is_business_day(d):
        d += timedelta(days=1)
    return d


def nth_business_day(year: int, month: int, n: int) -> date:
    """The n-th (1-based) business day of the month."""
    if n < 1:
        raise ValueError("n must be at least 1")
    d, seen = date(year, month, 1), 0
    while d.month == month:
        if is_business_day(d):
            seen += 1
            if seen == n:
                return d
        d += timedelta(days=1)
    raise ValueError(f"{year}-{month:02d} has fewer than {n} business days")


def brazil_paydays(year: int, month: int) -> tuple[date, ...]:
    """Common paydays of the month, ascending: 5th business day, 15th and 20th (rolled)."""
    days = {
        nth_business_day(year, month, 5),
        next_business_day(date(year, month, 15)),
        next_business_day(date(year, month, 20)),
    }
    return tuple(sorted(days))


def next_payday(on_or_after: date) -> date:
    year, month = on_or_after.year, on_or_after.month
    while True:
        for payday in brazil_paydays(year, month):
            if payday >= on_or_after:
                return payday
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def retry_jitter(jitter_key: str, jitter_minutes: int) -> timedelta:
    """Deterministic offset in [0, jitter_minutes) minutes, at one-second resolution."""
    if jitter_minutes <= 0:
        return timedelta(0)
    digest = hashlib.sha256(jitter_key.encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % (jitter_minutes * 60))


def _into_business_hours(
    at: datetime, tz: str, business_hours: tuple[time, time], jitter: timedelta
) -> datetime:
    opens, closes = business_hours
    local = to_local(at, tz)
    weekday = local.weekday() < 5
    if weekday and opens <= local.time() < closes:
        return at
    day = local.date() if weekday and local.time() < opens else local.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return local_to_utc(datetime.combine(day, opens) + jitter, tz)


def next_retry_at(
    first_failure_at: datetime,
    failures_so_far: int,
    schedule_hours: Sequence[int],
    tz: str,
    *,
    jitter_key: str,
    jitter_minutes: int = 30,
    business_hours: tuple[time, time] = (time(9), time(18)),
    payday_shift: bool = False,
    decline_code: str | None = None,
) -> datetime | None:
    """UTC time of the next retry after `failures_so_far` failures, or None when exhausted."""
    if failures_so_far < 1:
        raise ValueError("failures_so_far must be at least 1")
    if business_hours[0] >= business_hours[1]:
        raise ValueError("business hours must open before they close")
    if failures_so_far > len(schedule_hours):
        return None
    jitter = retry_jitter(jitter_key, jitter_minutes)
    candidate = first_failure_at + timedelta(hours=schedule_hours[failures_so_far - 1]) + jitter
    candidate = _into_business_hours(candidate, tz, business_hours, jitter)
    if payday_shift and decline_code == INSUFFICIENT_FUNDS:
        local_day = to_local(candidate, tz).date()
        payday = next_payday(local_day)
        if payday != local_day:
            candidate = local_to_utc(datetime.combine(payday, business_hours[0]) + jitter, tz)
    return candidate.astimezone(UTC)
