"""Billing period boundaries: anchor-based, calendar-clamped, local-time, DST-safe."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.subscriptions.periods import (
    INTERVALS,
    Interval,
    local_to_utc,
    next_period,
    period_boundary,
    period_bounds,
    period_index_at,
    to_local,
    trial_end,
)

SP = "America/Sao_Paulo"
NY = "America/New_York"


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def test_jan_31_monthly_over_24_cycles_clamps_without_drifting() -> None:
    anchor = datetime(2027, 1, 31, 12, 0, tzinfo=ZoneInfo(SP))
    expected = [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30),
        date(2027, 5, 31), date(2027, 6, 30), date(2027, 7, 31), date(2027, 8, 31),
        date(2027, 9, 30), date(2027, 10, 31), date(2027, 11, 30), date(2027, 12, 31),
        date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30),
        date(2028, 5, 31), date(2028, 6, 30), date(2028, 7, 31), date(2028, 8, 31),
        date(2028, 9, 30), date(2028, 10, 31), date(2028, 11, 30), date(2028, 12, 31),
        date(2029, 1, 31),
    ]  # fmt: skip
    for n, day in enumerate(expected):
        boundary = period_boundary(anchor, "month", 1, n, SP)
        assert boundary.tzinfo is UTC
        # São Paulo is UTC-3 all year since 2019: 12:00 local is 15:00 UTC.
        assert boundary == datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC), n


def test_feb_29_yearly_anchor() -> None:
    anchor = utc(2028, 2, 29, 8, 30)
    got = [period_boundary(anchor, "year", 1, n, "UTC") for n in range(6)]
    assert got == [
        utc(2028, 2, 29, 8, 30),
        utc(2029, 2, 28, 8, 30),
        utc(2030, 2, 28, 8, 30),
        utc(2031, 2, 28, 8, 30),
        utc(2032, 2, 29, 8, 30),
        utc(2033, 2, 28, 8, 30),
    ]


def test_sao_paulo_clamps_on_the_local_day_not_the_utc_day() -> None:
    # 2026-01-31 01:30 UTC is Jan 30, 22:30 in São Paulo: the anchor day is the 30th.
    anchor = utc(2026, 1, 31, 1, 30)
    got = [period_boundary(anchor, "month", 1, n, SP) for n in range(4)]
    assert got == [
        utc(2026, 1, 31, 1, 30),
        utc(2026, 3, 1, 1, 30),  # Feb 28, 22:30 local
        utc(2026, 3, 31, 1, 30),  # Mar 30, 22:30 local
        utc(2026, 5, 1, 1, 30),  # Apr 30, 22:30 local
    ]


def test_sao_paulo_midnight_boundaries_in_utc() -> None:
    anchor = datetime(2026, 3, 10, 0, 0, tzinfo=ZoneInfo(SP))
    assert period_boundary(anchor, "month", 1, 0, SP) == utc(2026, 3, 10, 3)
    assert period_boundary(anchor, "month", 1, 1, SP) == utc(2026, 4, 10, 3)
    assert period_boundary(anchor, "month", 1, 10, SP) == utc(2027, 1, 10, 3)


def test_sao_paulo_historic_dst_is_respected() -> None:
    # Brazil observed DST (UTC-2) from 2018-11-04 to 2019-02-17.
    anchor = datetime(2018, 10, 1, 12, 0, tzinfo=ZoneInfo(SP))
    assert period_boundary(anchor, "month", 1, 0, SP) == utc(2018, 10, 1, 15)
    assert period_boundary(anchor, "month", 1, 2, SP) == utc(2018, 12, 1, 14)
    assert period_boundary(anchor, "month", 1, 5, SP) == utc(2019, 3, 1, 15)


def test_new_york_daily_keeps_local_nine_across_march_transition() -> None:
    anchor = datetime(2026, 3, 6, 9, 0, tzinfo=ZoneInfo(NY))  # EST, 14:00 UTC
    got = [period_boundary(anchor, "day", 1, n, NY) for n in range(4)]
    # DST starts Sunday 2026-03-08: 09:00 EDT is 13:00 UTC.
    assert got == [
        utc(2026, 3, 6, 14),
        utc(2026, 3, 7, 14),
        utc(2026, 3, 8, 13),
        utc(2026, 3, 9, 13),
    ]


def test_new_york_daily_keeps_local_nine_across_november_transition() -> None:
    anchor = datetime(2026, 10, 30, 9, 0, tzinfo=ZoneInfo(NY))  # EDT, 13:00 UTC
    got = [period_boundary(anchor, "day", 1, n, NY) for n in range(4)]
    # DST ends Sunday 2026-11-01: 09:00 EST is 14:00 UTC.
    assert got == [
        utc(2026, 10, 30, 13), utc(2026, 10, 31, 13), utc(2026, 11, 1, 14), utc(2026, 11, 2, 14)
    ]  # fmt: skip


def test_new_york_0230_anchor_hitting_spring_forward_gap() -> None:
    anchor = datetime(2026, 3, 7, 2, 30, tzinfo=ZoneInfo(NY))  # EST, 07:30 UTC
    # 02:30 does not exist on 2026-03-08: first valid instant is 03:00 EDT (07:00 UTC).
    assert period_boundary(anchor, "day", 1, 1, NY) == utc(2026, 3, 8, 7)
    # The next day is computed from the anchor, so it is 02:30 again (EDT, 06:30 UTC).
    assert period_boundary(anchor, "day", 1, 2, NY) == utc(2026, 3, 9, 6, 30)

    monthly = datetime(2026, 2, 8, 2, 30, tzinfo=ZoneInfo(NY))
    assert period_boundary(monthly, "month", 1, 1, NY) == utc(2026, 3, 8, 7)
    assert period_boundary(monthly, "month", 1, 2, NY) == utc(2026, 4, 8, 6, 30)


def test_new_york_ambiguous_time_takes_first_occurrence() -> None:
    anchor = datetime(2026, 10, 1, 1, 30, tzinfo=ZoneInfo(NY))  # EDT, 05:30 UTC
    # 01:30 happens twice on 2026-11-01; the first one is still EDT.
    assert period_boundary(anchor, "month", 1, 1, NY) == utc(2026, 11, 1, 5, 30)
    assert period_boundary(anchor, "month", 1, 2, NY) == utc(2026, 12, 1, 6, 30)


def test_anchor_in_second_occurrence_is_period_zero_unchanged() -> None:
    second = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo(NY))  # EST, 06:30 UTC
    assert period_boundary(second, "day", 1, 0, NY) == utc(2026, 11, 1, 6, 30)
    assert period_boundary(second, "day", 1, 1, NY) == utc(2026, 11, 2, 6, 30)


def test_half_hour_dst_gap_lord_howe() -> None:
    # Lord Howe moves 02:00 → 02:30 (UTC+10:30 → +11) on 2026-10-04.
    tz = "Australia/Lord_Howe"
    anchor = datetime(2026, 10, 3, 2, 15, tzinfo=ZoneInfo(tz))
    assert period_boundary(anchor, "day", 1, 1, tz) == utc(2026, 10, 3, 15, 30)
    assert to_local(utc(2026, 10, 3, 15, 30), tz) == datetime(2026, 10, 4, 2, 30)


def test_quarterly_is_month_times_three_from_the_anchor() -> None:
    anchor = utc(2026, 1, 31, 12)
    got = [period_boundary(anchor, "month", 3, n, "UTC") for n in range(5)]
    assert got == [
        utc(2026, 1, 31, 12),
        utc(2026, 4, 30, 12),
        utc(2026, 7, 31, 12),  # chaining would have given Jul 30
        utc(2026, 10, 31, 12),
        utc(2027, 1, 31, 12),
    ]


def test_biweekly_in_local_time() -> None:
    anchor = datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo(NY))  # Sunday, EST
    got = [period_boundary(anchor, "week", 2, n, NY) for n in range(3)]
    assert got == [utc(2026, 3, 1, 14), utc(2026, 3, 15, 13), utc(2026, 3, 29, 13)]


def test_next_period_and_bounds() -> None:
    anchor = utc(2026, 1, 31)
    assert period_bounds(anchor, "month", 1, 0, "UTC") == (utc(2026, 1, 31), utc(2026, 2, 28))
    assert next_period(anchor, "month", 1, 0, "UTC") == (utc(2026, 2, 28), utc(2026, 3, 31))
    assert next_period(anchor, "month", 1, 2, "UTC") == (utc(2026, 4, 30), utc(2026, 5, 31))


def test_period_index_at_boundaries() -> None:
    anchor = utc(2026, 1, 31)
    tiny = timedelta(microseconds=1)
    assert period_index_at(anchor, "month", 1, anchor, "UTC") == 0
    assert period_index_at(anchor, "month", 1, utc(2026, 2, 28) - tiny, "UTC") == 0
    assert period_index_at(anchor, "month", 1, utc(2026, 2, 28), "UTC") == 1
    assert period_index_at(anchor, "month", 1, utc(2026, 3, 30), "UTC") == 1
    assert period_index_at(anchor, "month", 1, utc(2026, 3, 31), "UTC") == 2
    with pytest.raises(ValueError):
        period_index_at(anchor, "month", 1, anchor - tiny, "UTC")


def test_trial_end_keeps_local_wall_time() -> None:
    start = datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo(NY))
    assert trial_end(start, 14, NY) == utc(2026, 3, 15, 13)
    assert trial_end(start, 0, NY) == utc(2026, 3, 1, 14)
    assert trial_end(utc(2026, 1, 30, 12), 30, SP) == utc(2026, 3, 1, 12)


def test_invalid_arguments() -> None:
    anchor = utc(2026, 1, 1)
    with pytest.raises(ValueError):
        period_boundary(datetime(2026, 1, 1), "month", 1, 1, "UTC")
    with pytest.raises(ValueError):
        period_boundary(anchor, "month", 0, 1, "UTC")
    with pytest.raises(ValueError):
        period_boundary(anchor, "month", 1, -1, "UTC")
    with pytest.raises(ValueError):
        period_boundary(anchor, "fortnight", 1, 1, "UTC")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        trial_end(anchor, -1, "UTC")
    with pytest.raises(ValueError):
        local_to_utc(anchor, "UTC")


ZONES = [
    "UTC",
    SP,
    NY,
    "Europe/London",
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
]
anchors = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
intervals = st.sampled_from(INTERVALS)


@settings(max_examples=200, deadline=None)
@given(
    anchor=anchors,
    interval=intervals,
    count=st.integers(1, 12),
    tz=st.sampled_from(ZONES),
    n=st.integers(0, 40),
)
def test_boundaries_strictly_increasing(
    anchor: datetime, interval: Interval, count: int, tz: str, n: int
) -> None:
    assert period_boundary(anchor, interval, count, n, tz) < period_boundary(
        anchor, interval, count, n + 1, tz
    )


@settings(max_examples=100, deadline=None)
@given(
    anchor=anchors,
    interval=intervals,
    count=st.integers(1, 6),
    tz=st.sampled_from(ZONES),
    order=st.permutations(list(range(15))),
)
def test_order_of_computation_does_not_matter(
    anchor: datetime, interval: Interval, count: int, tz: str, order: list[int]
) -> None:
    in_order = [period_boundary(anchor, interval, count, n, tz) for n in range(15)]
    shuffled = {n: period_boundary(anchor, interval, count, n, tz) for n in order}
    assert [shuffled[n] for n in range(15)] == in_order


@settings(max_examples=200, deadline=None)
@given(anchor=anchors, count=st.integers(1, 6), tz=st.sampled_from(ZONES), n=st.integers(0, 60))
def test_equivalent_intervals_agree(anchor: datetime, count: int, tz: str, n: int) -> None:
    assert period_boundary(anchor, "month", count, n, tz) == period_boundary(
        anchor, "month", 1, n * count, tz
    )
    assert period_boundary(anchor, "year", 1, n, tz) == period_boundary(anchor, "month", 12, n, tz)
    assert period_boundary(anchor, "week", 1, n, tz) == period_boundary(anchor, "day", 7, n, tz)


@settings(max_examples=200, deadline=None)
@given(anchor=anchors, tz=st.sampled_from(ZONES), n=st.integers(0, 120))
def test_monthly_local_day_is_the_clamped_anchor_day(anchor: datetime, tz: str, n: int) -> None:
    local_anchor = to_local(anchor, tz)
    local = to_local(period_boundary(anchor, "month", 1, n, tz), tz)
    months = local_anchor.year * 12 + local_anchor.month - 1 + n
    assert (local.year, local.month - 1) == divmod(months, 12)
    assert local.day == min(local_anchor.day, _month_length(local.year, local.month))


@settings(max_examples=200, deadline=None)
@given(
    anchor=anchors,
    interval=intervals,
    count=st.integers(1, 4),
    tz=st.sampled_from(ZONES),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3000)),
)
def test_period_index_at_finds_the_containing_period(
    anchor: datetime, interval: Interval, count: int, tz: str, offset: timedelta
) -> None:
    at = anchor + offset
    index = period_index_at(anchor, interval, count, at, tz)
    start, end = period_bounds(anchor, interval, count, index, tz)
    assert start <= at < end


def _month_length(year: int, month: int) -> int:
    return (date(year + month // 12, month % 12 + 1, 1) - date(year, month, 1)).days
