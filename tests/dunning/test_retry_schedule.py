"""Retry schedule: backoff from the first failure, jitter, business hours, payday shift."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.dunning.schedule import (
    DEFAULT_RETRY_SCHEDULE_HOURS,
    brazil_national_holidays,
    brazil_paydays,
    easter_sunday,
    is_business_day,
    next_retry_at,
    nth_business_day,
    retry_jitter,
)

SP = "America/Sao_Paulo"
SPZ = ZoneInfo(SP)
THIRTY = timedelta(minutes=30)
INSUFFICIENT = "insufficient_funds"


def sp(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SPZ)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def test_default_schedule_from_tuesday_afternoon_in_sao_paulo() -> None:
    failed = sp(2026, 3, 3, 14, 0)  # Tuesday 14:00 local = 17:00 UTC
    got = [
        next_retry_at(failed, k, DEFAULT_RETRY_SCHEDULE_HOURS, SP, jitter_key="inv_1")
        for k in range(1, 6)
    ]
    expected_hours = [
        utc(2026, 3, 4, 17),  # +24 h: Wednesday 14:00
        utc(2026, 3, 6, 17),  # +72 h: Friday 14:00
        utc(2026, 3, 9, 12),  # +120 h: Sunday 14:00 → Monday 09:00
        utc(2026, 3, 10, 17),  # +168 h: Tuesday 14:00
    ]
    jitter = retry_jitter("inv_1", 30)
    for retry, hour in zip(got[:4], expected_hours, strict=True):
        assert retry is not None
        assert retry.tzinfo is UTC
        assert hour <= retry < hour + THIRTY
        assert retry == hour + jitter  # every retry carries the same key-derived jitter
    assert got[4] is None


def test_exact_times_without_jitter() -> None:
    failed = sp(2026, 3, 3, 14, 0)
    hours = DEFAULT_RETRY_SCHEDULE_HOURS
    assert next_retry_at(failed, 1, hours, SP, jitter_key="x", jitter_minutes=0) == utc(
        2026, 3, 4, 17
    )
    assert next_retry_at(failed, 3, hours, SP, jitter_key="x", jitter_minutes=0) == utc(
        2026, 3, 9, 12
    )


def test_saturday_moves_to_monday_nine() -> None:
    failed = sp(2026, 3, 6, 11, 0)  # Friday; +24 h is Saturday 11:00
    got = next_retry_at(failed, 1, [24], SP, jitter_key="k", jitter_minutes=0)
    assert got == utc(2026, 3, 9, 12)  # Monday 09:00 local
    jittered = next_retry_at(failed, 1, [24], SP, jitter_key="k")
    assert jittered == utc(2026, 3, 9, 12) + retry_jitter("k", 30)


def test_late_evening_moves_to_next_morning() -> None:
    failed = sp(2026, 3, 2, 22, 0)  # Monday 22:00; +24 h is Tuesday 22:00
    got = next_retry_at(failed, 1, [24], SP, jitter_key="k", jitter_minutes=0)
    assert got == utc(2026, 3, 4, 12)  # Wednesday 09:00 local


def test_early_morning_moves_to_nine_same_day() -> None:
    failed = sp(2026, 3, 2, 6, 15)
    got = next_retry_at(failed, 1, [24], SP, jitter_key="k", jitter_minutes=0)
    assert got == utc(2026, 3, 3, 12)  # Tuesday 09:00 local


def test_business_hours_edges() -> None:
    at_close = sp(2026, 3, 4, 18, 0)  # +24 h: Thursday 18:00 is closed → Friday 09:00
    assert next_retry_at(at_close, 1, [24], SP, jitter_key="k", jitter_minutes=0) == utc(
        2026, 3, 6, 12
    )
    at_open = sp(2026, 3, 4, 9, 0)  # Wednesday 09:00 is open
    assert next_retry_at(at_open, 1, [24], SP, jitter_key="k", jitter_minutes=0) == utc(
        2026, 3, 5, 12
    )
    friday_close = sp(2026, 3, 5, 18, 30)  # +24 h: Friday 18:30 → Monday 09:00
    assert next_retry_at(friday_close, 1, [24], SP, jitter_key="k", jitter_minutes=0) == utc(
        2026, 3, 9, 12
    )


def test_jitter_can_push_past_closing() -> None:
    jitter = retry_jitter("inv_1:1", 30)
    assert jitter == timedelta(minutes=25, seconds=34)  # pinned: re-runs must agree
    failed = sp(2026, 3, 2, 17, 50)  # +24 h +25:34 is Tuesday 18:15:34 → Wednesday
    got = next_retry_at(failed, 1, [24], SP, jitter_key="inv_1:1")
    assert got == utc(2026, 3, 4, 12) + jitter


def test_custom_business_hours_and_other_zone() -> None:
    ny = "America/New_York"
    failed = datetime(2026, 3, 7, 10, 0, tzinfo=ZoneInfo(ny))  # Saturday
    got = next_retry_at(
        failed, 1, [24], ny, jitter_key="k", jitter_minutes=0, business_hours=(time(8), time(20))
    )
    assert got == utc(2026, 3, 9, 12)  # Monday 08:00 EDT (DST began Sunday)


def payday_retry(failed: datetime) -> datetime | None:
    """A single +24 h retry, no jitter, payday shift on, insufficient funds."""
    return next_retry_at(
        failed,
        1,
        [24],
        SP,
        jitter_key="k",
        jitter_minutes=0,
        payday_shift=True,
        decline_code=INSUFFICIENT,
    )


def test_payday_shift_for_insufficient_funds() -> None:
    # November 2026 paydays: 9th (5th business day: the 2nd is a holiday), 16th (15th is
    # a Sunday and a holiday), 23rd (20th is a holiday, then a weekend).
    assert brazil_paydays(2026, 11) == (date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23))

    tuesday = sp(2026, 11, 9, 10, 0)  # +24 h: Tuesday the 10th → Monday the 16th
    got = payday_retry(tuesday)
    assert got == utc(2026, 11, 16, 12)

    on_payday = sp(2026, 11, 8, 15, 0)  # +24 h: Monday the 9th at 15:00, itself a payday
    got = payday_retry(on_payday)
    assert got == utc(2026, 11, 9, 18)

    after_16th = sp(2026, 11, 16, 10, 0)  # Tuesday the 17th → Monday the 23rd
    got = payday_retry(after_16th)
    assert got == utc(2026, 11, 23, 12)

    late_month = sp(2026, 11, 23, 10, 0)  # Tuesday the 24th → December's 5th business day
    got = payday_retry(late_month)
    assert got == utc(2026, 12, 7, 12)


def test_payday_shift_keeps_jitter_and_only_applies_to_insufficient_funds() -> None:
    failed = sp(2026, 11, 9, 10, 0)
    got = next_retry_at(
        failed,
        1,
        [24],
        SP,
        jitter_key="inv_9",
        payday_shift=True,
        decline_code="insufficient_funds",
    )
    assert got == utc(2026, 11, 16, 12) + retry_jitter("inv_9", 30)
    other = next_retry_at(
        failed, 1, [24], SP, jitter_key="inv_9", payday_shift=True, decline_code="processing_error"
    )
    assert other == utc(2026, 11, 10, 13) + retry_jitter("inv_9", 30)
    off = next_retry_at(failed, 1, [24], SP, jitter_key="inv_9", decline_code="insufficient_funds")
    assert off == other


def test_exhaustion_and_bad_input() -> None:
    failed = sp(2026, 3, 3, 14, 0)
    assert next_retry_at(failed, 5, DEFAULT_RETRY_SCHEDULE_HOURS, SP, jitter_key="k") is None
    assert next_retry_at(failed, 1, [], SP, jitter_key="k") is None
    with pytest.raises(ValueError):
        next_retry_at(failed, 0, DEFAULT_RETRY_SCHEDULE_HOURS, SP, jitter_key="k")


def test_jitter_is_deterministic_bounded_and_spread() -> None:
    failed = sp(2026, 3, 3, 14, 0)
    first = next_retry_at(failed, 2, DEFAULT_RETRY_SCHEDULE_HOURS, SP, jitter_key="inv_42:2")
    again = next_retry_at(failed, 2, DEFAULT_RETRY_SCHEDULE_HOURS, SP, jitter_key="inv_42:2")
    assert first == again
    jitters = [retry_jitter(f"inv_{i}", 30) for i in range(60)]
    assert all(timedelta(0) <= j < THIRTY for j in jitters)
    assert len({j // timedelta(minutes=1) for j in jitters}) >= 15
    assert retry_jitter("inv_1", 0) == timedelta(0)


def test_easter() -> None:
    assert easter_sunday(2026) == date(2026, 4, 5)
    assert easter_sunday(2027) == date(2027, 3, 28)
    assert easter_sunday(2024) == date(2024, 3, 31)
    assert easter_sunday(2025) == date(2025, 4, 20)
    assert easter_sunday(2038) == date(2038, 4, 25)  # latest possible date
    assert easter_sunday(2285) == date(2285, 3, 22)  # earliest possible date


def test_brazil_holidays() -> None:
    assert brazil_national_holidays(2026) == {
        date(2026, 1, 1),
        date(2026, 2, 16),  # Carnival Monday
        date(2026, 2, 17),  # Carnival Tuesday
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 21),
        date(2026, 5, 1),
        date(2026, 6, 4),  # Corpus Christi
        date(2026, 9, 7),
        date(2026, 10, 12),
        date(2026, 11, 2),
        date(2026, 11, 15),
        date(2026, 11, 20),
        date(2026, 12, 25),
    }
    h2027 = brazil_national_holidays(2027)
    assert {date(2027, 2, 8), date(2027, 2, 9), date(2027, 3, 26), date(2027, 5, 27)} <= h2027
    assert date(2023, 11, 20) not in brazil_national_holidays(2023)
    assert date(2024, 11, 20) in brazil_national_holidays(2024)


def test_business_days() -> None:
    assert not is_business_day(date(2026, 11, 2))  # Monday, Finados
    assert not is_business_day(date(2026, 11, 14))  # Saturday
    assert is_business_day(date(2026, 11, 3))
    assert nth_business_day(2026, 1, 5) == date(2026, 1, 8)  # Jan 1 holiday
    assert nth_business_day(2026, 4, 5) == date(2026, 4, 8)  # Good Friday Apr 3
    assert nth_business_day(2026, 6, 5) == date(2026, 6, 8)  # Corpus Christi Jun 4
    assert nth_business_day(2026, 9, 5) == date(2026, 9, 8)  # Independence Day Sep 7
    assert nth_business_day(2026, 11, 5) == date(2026, 11, 9)  # Finados Nov 2
    assert nth_business_day(2027, 2, 6) == date(2027, 2, 10)  # Carnival Feb 8–9
    assert nth_business_day(2026, 3, 1) == date(2026, 3, 2)
    with pytest.raises(ValueError):
        nth_business_day(2026, 2, 25)
    with pytest.raises(ValueError):
        nth_business_day(2026, 2, 0)


@settings(max_examples=300, deadline=None)
@given(
    failed=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)),
    hours=st.lists(st.integers(1, 400), min_size=1, max_size=6),
    data=st.data(),
    key=st.text(max_size=20),
    payday=st.booleans(),
)
def test_retry_lands_in_business_hours_never_early(
    failed: datetime, hours: list[int], data: st.DataObject, key: str, payday: bool
) -> None:
    first = failed.replace(tzinfo=UTC)
    k = data.draw(st.integers(1, len(hours)))
    code = "insufficient_funds" if payday else None
    got = next_retry_at(first, k, hours, SP, jitter_key=key, payday_shift=payday, decline_code=code)
    assert got is not None
    raw = first + timedelta(hours=hours[k - 1]) + retry_jitter(key, 30)
    assert got >= raw
    local = got.astimezone(SPZ)
    assert local.weekday() < 5
    assert time(9) <= local.time() < time(18)
    if payday:
        assert local.date() in brazil_paydays(local.year, local.month)
        assert got < raw + timedelta(days=25)  # no two paydays are further apart
    else:
        assert got < raw + timedelta(days=3)  # at worst Friday evening → Monday morning
