"""Late fee (multa), interest (juros de mora pro rata die) and on-time discount."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.collection.late_fees import (
    LateCharges,
    LateFeePolicy,
    late_charges,
    on_time_discount,
    validate_policy,
)

SP = "America/Sao_Paulo"
SP_ZONE = ZoneInfo(SP)
DUE = datetime(2025, 3, 10, 23, 59, tzinfo=SP_ZONE)  # end of the due day, local time
DEFAULT = LateFeePolicy()


def paid(days: int, hour: int = 12) -> datetime:
    """A payment instant ``days`` local calendar days after the due date."""
    return datetime(2025, 3, 10, hour, tzinfo=SP_ZONE) + timedelta(days=days)


def test_worked_example_five_days_late() -> None:
    # R$ 100,00 paid 5 days late, 2 % fee and 1 % a month:
    # fee = 10000 * 2 % = 200; interest = 10000 * 1 % / 30 * 5 = 16.666... -> 17
    charges = late_charges(10000, DUE, paid(5), DEFAULT, SP)
    assert charges == LateCharges(fee=200, interest=17, days_late=5)
    assert charges.total == 217
    assert 10000 + charges.fee + charges.interest == 10217


def test_defaults_are_the_consumer_caps() -> None:
    assert DEFAULT.fee_percent == Decimal("2")
    assert DEFAULT.monthly_interest_percent == Decimal("1")
    assert DEFAULT.grace_days == 0
    assert DEFAULT.on_time_discount_percent == Decimal("0")


@pytest.mark.parametrize(
    ("days", "interest"),
    [
        (1, 3),  # 3.333 -> 3
        (30, 100),  # a full commercial month: exactly 1 %
        (45, 150),
        (365, 1217),  # 1216.666 -> 1217; simple interest, not compounded
    ],
)
def test_interest_pro_rata_die(days: int, interest: int) -> None:
    assert late_charges(10000, DUE, paid(days), DEFAULT, SP) == LateCharges(200, interest, days)


def test_on_time_or_early_owes_nothing() -> None:
    assert late_charges(10000, DUE, paid(0), DEFAULT, SP) == LateCharges(0, 0, 0)
    assert late_charges(10000, DUE, paid(-3), DEFAULT, SP) == LateCharges(0, 0, 0)


def test_grace_then_counts_from_due_date() -> None:
    policy = LateFeePolicy(grace_days=3)
    assert late_charges(10000, DUE, paid(3), policy, SP) == LateCharges(0, 0, 3)
    # Past grace: 4 days of interest, not 1 (10000 * 1 % / 30 * 4 = 13.33 -> 13)
    assert late_charges(10000, DUE, paid(4), policy, SP) == LateCharges(200, 13, 4)
    assert late_charges(10000, DUE, paid(5), policy, SP) == LateCharges(200, 17, 5)


def test_days_counted_on_the_merchant_calendar() -> None:
    # Due 10 March 23:59 in São Paulo (UTC-3) = 11 March 02:59 UTC.
    # 10 March 23:30 local = 11 March 02:30 UTC: same local day, not late.
    before_midnight = datetime(2025, 3, 11, 2, 30, tzinfo=UTC)
    assert late_charges(10000, DUE, before_midnight, DEFAULT, SP).days_late == 0
    # 11 March 00:01 local = 03:01 UTC: a new local day, 1 day late,
    # although both instants fall on 11 March in UTC.
    after_midnight = datetime(2025, 3, 11, 3, 1, tzinfo=UTC)
    late = late_charges(10000, DUE, after_midnight, DEFAULT, SP)
    assert late == LateCharges(fee=200, interest=3, days_late=1)
    # A Tokyo merchant sees both instants on 11 March (11:59 and 12:01): on time.
    assert late_charges(10000, DUE, after_midnight, DEFAULT, "Asia/Tokyo").days_late == 0


def test_rounding_is_half_even() -> None:
    # fee: 125 * 2 % = 2.5 -> 2; interest: 4500 * 1 % / 30 = 1.5 -> 2; 7500 -> 2.5 -> 2
    assert late_charges(125, DUE, paid(1), DEFAULT, SP).fee == 2
    assert late_charges(4500, DUE, paid(1), DEFAULT, SP).interest == 2
    assert late_charges(7500, DUE, paid(1), DEFAULT, SP).interest == 2


def test_on_time_discount() -> None:
    assert on_time_discount(10000, LateFeePolicy(on_time_discount_percent=Decimal("5"))) == 500
    # 9999 * 2.5 % = 249.975 -> 250
    assert on_time_discount(9999, LateFeePolicy(on_time_discount_percent=Decimal("2.5"))) == 250
    assert on_time_discount(10000, DEFAULT) == 0


def test_inputs_rejected() -> None:
    with pytest.raises(ValueError, match="due_at must be timezone-aware"):
        late_charges(100, datetime(2025, 3, 10), paid(1), DEFAULT, SP)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        late_charges(100, DUE, datetime(2025, 3, 12), DEFAULT, SP)
    with pytest.raises(ValueError, match="amount must not be negative"):
        late_charges(-1, DUE, paid(1), DEFAULT, SP)
    with pytest.raises(TypeError, match="amount"):
        late_charges(1.5, DUE, paid(1), DEFAULT, SP)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fee_percent"):
        late_charges(100, DUE, paid(1), LateFeePolicy(fee_percent=Decimal(-1)), SP)


# --- validate_policy ----------------------------------------------------------------


def test_policy_within_caps_accepted() -> None:
    assert validate_policy(DEFAULT, "BRL") is DEFAULT
    lower = LateFeePolicy(Decimal("1.5"), Decimal("0.5"), 5, Decimal("10"))
    assert validate_policy(lower, "brl") is lower


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (LateFeePolicy(fee_percent=Decimal("2.01")), "fee_percent: at most 2% .*CDC"),
        (LateFeePolicy(monthly_interest_percent=Decimal("1.5")), "monthly_interest_percent"),
    ],
)
def test_brl_consumer_caps(policy: LateFeePolicy, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        validate_policy(policy, "BRL")
    # Businesses and other currencies are not under the consumer caps.
    assert validate_policy(policy, "BRL", business_customer=True) is policy
    assert validate_policy(policy, "USD") is policy


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (LateFeePolicy(fee_percent=Decimal("-0.1")), "fee_percent: must not be negative"),
        (LateFeePolicy(monthly_interest_percent=Decimal(-1)), "monthly_interest_percent"),
        (LateFeePolicy(grace_days=-1), "grace_days: must not be negative"),
        (LateFeePolicy(grace_days=True), "grace_days: must be an int"),
        (LateFeePolicy(on_time_discount_percent=Decimal(-5)), "on_time_discount_percent"),
        (LateFeePolicy(on_time_discount_percent=Decimal(100)), "on_time_discount_percent"),
        (LateFeePolicy(fee_percent=Decimal(101)), "fee_percent: must be at most 100"),
        (LateFeePolicy(fee_percent=Decimal("NaN")), "fee_percent: must be a finite"),
        (LateFeePolicy(fee_percent=2.0), "fee_percent: must be a Decimal"),  # type: ignore[arg-type]
    ],
)
def test_invalid_policy_any_customer(policy: LateFeePolicy, field: str) -> None:
    for business in (False, True):
        with pytest.raises(ValueError, match=field):
            validate_policy(policy, "BRL", business_customer=business)


def test_unknown_currency_rejected() -> None:
    with pytest.raises(ValueError, match="currency"):
        validate_policy(DEFAULT, "R$")


# --- properties ------------------------------------------------------------------------

amounts = st.integers(0, 10**12)
days = st.integers(-30, 3 * 365)
fees = st.decimals(0, 2, places=2)
rates = st.decimals(0, 1, places=3)
policies = st.builds(
    LateFeePolicy,
    fee_percent=fees,
    monthly_interest_percent=rates,
    grace_days=st.integers(0, 15),
    on_time_discount_percent=st.decimals(0, 20, places=2),
)


def oracle(amount: int, policy: LateFeePolicy, late: int) -> tuple[int, int]:
    """Exact rationals and Python's round(), which is half-even on Fractions."""
    if late <= policy.grace_days:
        return 0, 0
    fee = round(Fraction(amount) * Fraction(policy.fee_percent) / 100)
    interest = round(Fraction(amount) * Fraction(policy.monthly_interest_percent) / 100 / 30 * late)
    return fee, interest


@given(amounts, days, policies)
def test_matches_exact_oracle_and_lines_sum(amount: int, d: int, policy: LateFeePolicy) -> None:
    validate_policy(policy, "BRL")
    charges = late_charges(amount, DUE, paid(d), policy, SP)
    assert charges.days_late == max(0, d)
    assert (charges.fee, charges.interest) == oracle(amount, policy, max(0, d))
    assert charges.fee >= 0
    assert charges.interest >= 0
    assert amount + charges.fee + charges.interest == amount + charges.total


@given(amounts, days, policies)
def test_fee_never_above_cap(amount: int, d: int, policy: LateFeePolicy) -> None:
    fee = late_charges(amount, DUE, paid(d), policy, SP).fee
    cap = Fraction(amount) * 2 / 100
    assert fee <= round(cap)  # rounding of the cap itself is the only slack
    assert fee - cap <= Fraction(1, 2)


@given(amounts, policies, st.integers(0, 1000), st.integers(0, 1000))
def test_interest_monotone_in_days(amount: int, policy: LateFeePolicy, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    early = late_charges(amount, DUE, paid(lo), policy, SP)
    late = late_charges(amount, DUE, paid(hi), policy, SP)
    assert early.interest <= late.interest
    assert early.total <= late.total


@given(amounts, policies, st.data())
def test_nothing_within_grace(amount: int, policy: LateFeePolicy, data: st.DataObject) -> None:
    d = data.draw(st.integers(-10, policy.grace_days))
    assert late_charges(amount, DUE, paid(d), policy, SP) == LateCharges(0, 0, max(0, d))


@given(amounts, policies)
def test_discount_bounded(amount: int, policy: LateFeePolicy) -> None:
    discount = on_time_discount(amount, policy)
    assert 0 <= discount <= amount
    assert discount == round(Fraction(amount) * Fraction(policy.on_time_discount_percent) / 100)
