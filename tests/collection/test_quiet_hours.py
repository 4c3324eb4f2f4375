"""Quiet hours, weekly contact cap and ruler step times."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from billing.collection.quiet_hours import (
    next_allowed_time,
    next_slot_under_cap,
    ruler_step_time,
    within_weekly_cap,
)

SP = "America/Sao_Paulo"
NY = "America/New_York"
EVENING, MORNING = time(20), time(8)


def sp(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(SP))


def ny(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(NY), fold=fold)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def test_wrapping_window() -> None:
    # 21:00 local is 00:00 UTC the next day; 08:00 local is 11:00 UTC.
    assert next_allowed_time(sp(2026, 3, 10, 21, 0), EVENING, MORNING, SP) == utc(2026, 3, 11, 11)
    assert next_allowed_time(sp(2026, 3, 10, 23, 59), EVENING, MORNING, SP) == utc(2026, 3, 11, 11)
    assert next_allowed_time(sp(2026, 3, 11, 0, 30), EVENING, MORNING, SP) == utc(2026, 3, 11, 11)
    assert next_allowed_time(sp(2026, 3, 11, 7, 59), EVENING, MORNING, SP) == utc(2026, 3, 11, 11)
    # Month end: Mar 31 evening → Apr 1 morning.
    assert next_allowed_time(sp(2026, 3, 31, 22, 0), EVENING, MORNING, SP) == utc(2026, 4, 1, 11)


def test_wrapping_window_boundaries() -> None:
    assert next_allowed_time(sp(2026, 3, 10, 20, 0), EVENING, MORNING, SP) == utc(2026, 3, 11, 11)
    at_end = sp(2026, 3, 10, 8, 0)
    assert next_allowed_time(at_end, EVENING, MORNING, SP) is at_end
    just_before = sp(2026, 3, 10, 19, 59, 59)
    assert next_allowed_time(just_before, EVENING, MORNING, SP) is just_before
    noon = sp(2026, 3, 10, 12, 0)
    assert next_allowed_time(noon, EVENING, MORNING, SP) is noon


def test_non_wrapping_window() -> None:
    lunch = (time(12), time(14))
    assert next_allowed_time(sp(2026, 3, 10, 12, 0), *lunch, SP) == utc(2026, 3, 10, 17)
    assert next_allowed_time(sp(2026, 3, 10, 13, 59), *lunch, SP) == utc(2026, 3, 10, 17)
    for outside in (sp(2026, 3, 10, 14, 0), sp(2026, 3, 10, 11, 59), sp(2026, 3, 10, 21, 0)):
        assert next_allowed_time(outside, *lunch, SP) is outside


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    for hour in (0, 8, 20, 23):
        at = sp(2026, 3, 10, hour, 0)
        assert next_allowed_time(at, time(8), time(8), SP) is at


def test_new_york_spring_forward_night() -> None:
    # 2026-03-07 21:00 EST; clocks jump at 02:00, so 08:00 is EDT = 12:00 UTC.
    assert next_allowed_time(ny(2026, 3, 7, 21, 0), EVENING, MORNING, NY) == utc(2026, 3, 8, 12)
    # A quiet end inside the gap (02:30) resolves to the first valid instant, 03:00 EDT.
    assert next_allowed_time(ny(2026, 3, 7, 23, 0), time(22), time(2, 30), NY) == utc(2026, 3, 8, 7)


def test_new_york_fall_back_night() -> None:
    # 2026-10-31 22:00 EDT; clocks fall back at 02:00, so 08:00 is EST = 13:00 UTC.
    assert next_allowed_time(ny(2026, 10, 31, 22, 0), EVENING, MORNING, NY) == utc(2026, 11, 1, 13)
    window = (time(1), time(1, 45))
    # In the first 01:30 (EDT) the end is the first 01:45 (05:45 UTC) …
    assert next_allowed_time(ny(2026, 11, 1, 1, 30), *window, NY) == utc(2026, 11, 1, 5, 45)
    # … in the repeated 01:30 (EST) it is the second 01:45 (06:45 UTC), never the past.
    assert next_allowed_time(ny(2026, 11, 1, 1, 30, fold=1), *window, NY) == utc(2026, 11, 1, 6, 45)


def test_weekly_cap_counts_a_rolling_seven_days() -> None:
    sent = [utc(2026, 3, 1, 10), utc(2026, 3, 3, 10), utc(2026, 3, 5, 10)]
    at = utc(2026, 3, 7, 12)
    assert not within_weekly_cap(sent, at, 3)
    assert within_weekly_cap(sent, at, 4)
    # Exactly 7 days after the oldest contact it no longer counts.
    assert within_weekly_cap(sent, utc(2026, 3, 8, 10), 3)
    assert not within_weekly_cap(sent, utc(2026, 3, 8, 9, 59, 59), 3)
    # Contacts after `at` are not history yet.
    assert within_weekly_cap(sent, utc(2026, 3, 4, 10), 3)
    assert within_weekly_cap([], at, 1)
    with pytest.raises(ValueError):
        within_weekly_cap(sent, at, 0)


def test_next_slot_under_cap() -> None:
    sent = [utc(2026, 3, 5, 10), utc(2026, 3, 1, 10), utc(2026, 3, 3, 10)]  # unordered
    at = utc(2026, 3, 7, 12)
    assert next_slot_under_cap(sent, at, 3) == utc(2026, 3, 8, 10)  # Mar 1 ages out
    assert next_slot_under_cap(sent, at, 2) == utc(2026, 3, 10, 10)  # Mar 3 must too
    assert next_slot_under_cap(sent, at, 1) == utc(2026, 3, 12, 10)
    assert next_slot_under_cap(sent, at, 4) == at
    old = [utc(2026, 2, 1), utc(2026, 2, 2)]
    assert next_slot_under_cap(old, at, 1) == at


def test_ruler_step_times_in_sao_paulo() -> None:
    due = utc(2026, 3, 10, 3)  # Mar 10, 00:00 local
    assert ruler_step_time(due, -3, SP) == utc(2026, 3, 7, 13)  # Mar 7, 10:00 local
    assert ruler_step_time(due, 0, SP) == utc(2026, 3, 10, 13)
    assert ruler_step_time(due, 1, SP) == utc(2026, 3, 11, 13)
    assert ruler_step_time(due, 30, SP, send_at=time(8, 30)) == utc(2026, 4, 9, 11, 30)
    # 02:00 UTC on Mar 10 is still Mar 9 in São Paulo: D is the 9th.
    late = utc(2026, 3, 10, 2)
    assert ruler_step_time(late, 1, SP) == utc(2026, 3, 10, 13)
    assert ruler_step_time(utc(2026, 3, 2, 15), -3, SP) == utc(2026, 2, 27, 13)


def test_ruler_step_time_across_dst() -> None:
    due = utc(2026, 3, 9, 15)  # Monday 11:00 EDT
    assert ruler_step_time(due, -3, NY) == utc(2026, 3, 6, 15)  # Friday 10:00 EST
    assert ruler_step_time(due, 0, NY) == utc(2026, 3, 9, 14)  # Monday 10:00 EDT


ZONES = [SP, NY, "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]
instants = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
minutes_of_day = st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))


def _quiet(local: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= local < end
    return local >= start or local < end


@settings(max_examples=400, deadline=None)
@given(at=instants, start=minutes_of_day, end=minutes_of_day, tz=st.sampled_from(ZONES))
@example(  # a wait of half a millisecond, once mistaken for a skipped allowed instant
    at=datetime(2015, 1, 1, 23, 59, 59, 999501, tzinfo=UTC),
    start=time(0, 1),
    end=time(0, 0),
    tz="Europe/London",
)
def test_next_allowed_time_properties(at: datetime, start: time, end: time, tz: str) -> None:
    assume(start != end)
    got = next_allowed_time(at, start, end, tz)
    zone = ZoneInfo(tz)
    if not _quiet(at.astimezone(zone).time(), start, end):
        assert got is at
        return
    assert at < got <= at + timedelta(hours=25)
    assert not _quiet(got.astimezone(zone).time(), start, end)
    # Nothing allowed was skipped: the span waited is quiet throughout.
    for fraction in (0.25, 0.5, 0.999):
        # timedelta * float rounds to whole microseconds: a wait of a few microseconds
        # would put the probe on `got` itself, which is allowed by definition.
        inside = min(at + (got - at) * fraction, got - timedelta(microseconds=1))
        assert _quiet(inside.astimezone(zone).time(), start, end)


@settings(max_examples=300, deadline=None)
@given(
    ages=st.lists(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)), max_size=12),
    at=instants,
    cap=st.integers(1, 5),
)
def test_next_slot_is_the_earliest_fitting_instant(
    ages: list[timedelta], at: datetime, cap: int
) -> None:
    sent = [at - age for age in ages]  # history: every contact is at or before `at`
    slot = next_slot_under_cap(sent, at, cap)
    assert slot >= at
    assert within_weekly_cap(sent, slot, cap)
    if slot > at:
        assert not within_weekly_cap(sent, slot - timedelta(microseconds=1), cap)
