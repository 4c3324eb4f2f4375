"""Proration of plan changes: hand-computed cases and bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.subscriptions.proration import Proration, prorate

MARCH = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))  # 31 days


def test_upgrade_mid_month() -> None:
    # 31-day period, change on the 16th at 00:00: 16 of 31 days remain.
    # credit = 3000 * 16/31 = 1548.387 -> 1548; charge = 6000 * 16/31 = 3096.774 -> 3097
    p = prorate(3000, 6000, *MARCH, datetime(2025, 3, 16, tzinfo=UTC))
    assert p == Proration(credit=1548, charge=3097, net=1549, fraction=Decimal(16) / 31)
    assert p.fraction == Decimal(1382400) / Decimal(2678400)


def test_downgrade() -> None:
    # February 2025 has 28 days; on the 8th, 21 days (3/4) remain.
    # credit = 10000 * 3/4 = 7500; charge = 5000 * 3/4 = 3750; net = -3750 (owed back)
    start, end = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    p = prorate(10000, 5000, start, end, datetime(2025, 2, 8, tzinfo=UTC))
    assert (p.credit, p.charge, p.net, p.fraction) == (7500, 3750, -3750, Decimal("0.75"))


def test_change_at_start_is_full_amounts() -> None:
    p = prorate(4990, 9990, *MARCH, MARCH[0])
    assert (p.credit, p.charge, p.net, p.fraction) == (4990, 9990, 5000, Decimal(1))


def test_one_second_before_end() -> None:
    # 1 of 2,678,400 seconds remains: 10000/2678400 = 0.0037 -> 0 each.
    p = prorate(10000, 20000, *MARCH, MARCH[1] - timedelta(seconds=1))
    assert (p.credit, p.charge, p.net) == (0, 0, 0)
    assert p.fraction == Decimal(1) / Decimal(2678400)
    # 2678400 * 3 / 2678400 = 3 exactly; 2678400 * 1.5 -> 1.5 -> 2 (half-even)
    p = prorate(2678400 * 3, 4017600, *MARCH, MARCH[1] - timedelta(seconds=1))
    assert (p.credit, p.charge, p.net) == (3, 2, -1)


def test_half_even_rounding() -> None:
    # Midpoint of a 2-day period: 1 * 1/2 = 0.5 -> 0; 3 * 1/2 = 1.5 -> 2; 5/2 = 2.5 -> 2
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end, mid = start + timedelta(days=2), start + timedelta(days=1)
    assert prorate(1, 3, start, end, mid) == Proration(0, 2, 2, Decimal("0.5"))
    assert prorate(5, 5, start, end, mid) == Proration(2, 2, 0, Decimal("0.5"))


def test_counts_real_seconds_across_dst() -> None:
    # New York springs forward on 2025-03-09: the local month is 31 days minus 1 hour
    # = 2,674,800 s. From 16 March 00:00 EDT, 16 days = 1,382,400 s remain.
    # fraction = 1382400/2674800 = 1152/2229; credit = 22290 * 1152/2229 = 11520.
    # (Wall-clock arithmetic would give 16/31 and 11504.5.)
    ny = ZoneInfo("America/New_York")
    start, end = datetime(2025, 3, 1, tzinfo=ny), datetime(2025, 4, 1, tzinfo=ny)
    p = prorate(22290, 0, start, end, datetime(2025, 3, 16, tzinfo=ny))
    assert p.fraction == Decimal(1152) / Decimal(2229)
    assert (p.credit, p.charge, p.net) == (11520, 0, -11520)


def test_mixed_offsets_are_the_same_instant() -> None:
    brt = timezone(timedelta(hours=-3))
    a = prorate(3000, 6000, *MARCH, datetime(2025, 3, 16, tzinfo=UTC))
    b = prorate(3000, 6000, *MARCH, datetime(2025, 3, 15, 21, tzinfo=brt))
    assert a == b


def test_sub_second_is_floored() -> None:
    at = datetime(2025, 3, 16, 0, 0, 0, 999_999, tzinfo=UTC)
    # 1,382,399.000001 s remain -> 1,382,399 whole seconds
    assert prorate(0, 0, *MARCH, at).fraction == Decimal(1382399) / Decimal(2678400)


@pytest.mark.parametrize(
    "change_at",
    [MARCH[1], MARCH[1] + timedelta(days=1), MARCH[0] - timedelta(microseconds=1)],
)
def test_change_outside_period_rejected(change_at: datetime) -> None:
    with pytest.raises(ValueError, match=r"within \[period_start, period_end\)"):
        prorate(100, 200, *MARCH, change_at)


def test_naive_rejected() -> None:
    naive = datetime(2025, 3, 16)
    with pytest.raises(ValueError, match="change_at must be timezone-aware"):
        prorate(100, 200, *MARCH, naive)
    with pytest.raises(ValueError, match="period_start must be timezone-aware"):
        prorate(100, 200, datetime(2025, 3, 1), MARCH[1], MARCH[0])


def test_bad_period_and_amounts_rejected() -> None:
    with pytest.raises(ValueError, match="at least one second"):
        prorate(100, 200, MARCH[1], MARCH[0], MARCH[0])
    with pytest.raises(ValueError, match="old_amount must be non-negative"):
        prorate(-1, 200, *MARCH, MARCH[0])
    with pytest.raises(TypeError, match="new_amount"):
        prorate(100, 2.5, *MARCH, MARCH[0])  # type: ignore[arg-type]


amounts = st.integers(0, 10**12)


@given(
    amounts,
    amounts,
    st.integers(1, 400 * 86400),  # period length in seconds
    st.floats(0, 1, exclude_max=True),  # where in the period the change falls
)
def test_bounds(old: int, new: int, length: int, where: float) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = start + timedelta(seconds=length)
    at = start + timedelta(seconds=int(length * where))
    p = prorate(old, new, start, end, at)
    assert 0 <= p.credit <= old
    assert 0 <= p.charge <= new
    assert p.net == p.charge - p.credit
    assert Decimal(0) < p.fraction <= Decimal(1)
    # Each figure is within half a minor unit of the exact share.
    assert abs(p.credit - old * p.fraction) <= Decimal("0.5")
    assert abs(p.charge - new * p.fraction) <= Decimal("0.5")


@given(amounts, st.integers(2, 40 * 86400), st.data())
def test_later_change_never_credits_more(old: int, length: int, data: st.DataObject) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = start + timedelta(seconds=length)
    a, b = sorted(data.draw(st.lists(st.integers(0, length - 1), min_size=2, max_size=2)))
    early = prorate(old, old, start, end, start + timedelta(seconds=a))
    late = prorate(old, old, start, end, start + timedelta(seconds=b))
    assert late.credit <= early.credit
    assert early.net == late.net == 0  # same price: credit and charge cancel
