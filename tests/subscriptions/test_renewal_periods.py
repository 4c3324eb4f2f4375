"""The billing run's own period arithmetic gives exactly what periods.py gives.

The run computes one period end per subscription with a faster routine (zone resolved
once per batch, no validation); a merchant must never see it differ from the subscription
pages, trials or proration, which use periods.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Table

from billing.models import Subscription
from billing.subscriptions.periods import INTERVALS, Interval, period_boundary
from billing.subscriptions.renewal import _period_start_fast
from billing.subscriptions.state import RENEWING

ZONES = [
    "America/Sao_Paulo",  # had DST until 2019, at midnight: gaps at 00:00
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "America/Noronha",
    "UTC",
]


@settings(max_examples=3000, deadline=None)
@given(
    anchor=st.datetimes(
        min_value=datetime(2009, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.just(UTC)
    ),
    interval=st.sampled_from(INTERVALS),
    interval_count=st.integers(1, 13),
    n=st.integers(0, 40),
    tz=st.sampled_from(ZONES),
)
def test_fast_period_start_equals_period_boundary(
    anchor: datetime, interval: Interval, interval_count: int, n: int, tz: str
) -> None:
    fast = _period_start_fast(anchor, interval, interval_count, n, ZoneInfo(tz), tz)
    assert fast == period_boundary(anchor, interval, interval_count, n, tz)
    assert fast.utcoffset() == timedelta(0)


def test_fast_period_start_at_dst_edges_and_month_ends() -> None:
    """Anchors whose later periods fall in a spring-forward gap, a fall-back repeat, on
    Feb 29, or on a 31st: every case periods.py settles on its own."""
    cases: list[tuple[datetime, Interval, str]] = [
        (datetime(2024, 2, 10, 7, 30, tzinfo=UTC), "month", "America/New_York"),  # 02:30 local
        (datetime(2024, 10, 3, 5, 30, tzinfo=UTC), "month", "America/New_York"),  # 01:30 local
        (datetime(2018, 10, 4, 3, 0, tzinfo=UTC), "week", "America/Sao_Paulo"),  # 00:00 local
        (datetime(2024, 1, 31, 15, 0, tzinfo=UTC), "month", "America/Sao_Paulo"),
        (datetime(2024, 2, 29, 15, 0, tzinfo=UTC), "year", "America/Sao_Paulo"),
        (datetime(2011, 12, 1, 10, 0, tzinfo=UTC), "day", "Pacific/Apia"),
    ]
    for anchor, interval, tz in cases:
        for n in range(0, 60):
            assert _period_start_fast(anchor, interval, 1, n, ZoneInfo(tz), tz) == period_boundary(
                anchor, interval, 1, n, tz
            ), (anchor, interval, tz, n)


def test_the_renewal_index_covers_exactly_the_renewing_statuses() -> None:
    """The run's selector reads a partial index; if RENEWING changed without it, renewals
    would be found by a full sort (slow) or, worse, a status would silently stop renewing
    in the index's eyes."""
    (index,) = [
        i
        for i in cast(Table, Subscription.__table__).indexes
        if i.name == "ix_subscriptions_renewal_due"
    ]
    predicate = str(index.dialect_options["postgresql"]["where"])
    listed = {part.strip(" '") for part in predicate.split("IN")[1].strip(" ()").split(",")}
    assert listed == set(RENEWING)
