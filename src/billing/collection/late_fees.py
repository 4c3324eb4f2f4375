"""Late fee (multa), default interest (juros de mora) and the on-time discount.

Brazilian consumer defaults and caps, applied to BRL debt of a non-business customer:

- fee at most 2 % of the amount (CDC, Lei 8.078/1990, art. 52 §1);
- interest at most 1 % a month, pro rata die, simple (the juros de mora default of
  CC art. 406 with CTN art. 161 §1; merchants billing consumers stay at or below it).

Interest is ``amount * monthly% / 30 * days``: a 30-day commercial month, never
compounded. Fee and interest are each rounded once (``round_minor``, half-even), so
the invoice lines ``amount + fee + interest`` sum to the total shown.

Grace days only delay *whether* charges apply: once a payment is later than the grace
period, fee and interest count from the due date, as on Brazilian boletos (a boleto
paid 5 days late with 3 days of grace owes 5 days of interest, not 2). Moving a due
date that falls on a weekend or bank holiday is the caller's job (pass the adjusted
due date); this module only counts calendar days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.kit.money import normalize_currency, percent_of, round_minor

__all__ = [
    "CONSUMER_MAX_FEE_PERCENT",
    "CONSUMER_MAX_MONTHLY_INTEREST_PERCENT",
    "LateCharges",
    "LateFeePolicy",
    "late_charges",
    "on_time_discount",
    "validate_policy",
]

CONSUMER_MAX_FEE_PERCENT = Decimal("2")
CONSUMER_MAX_MONTHLY_INTEREST_PERCENT = Decimal("1")
_DAYS_PER_MONTH = 30  # commercial month for pro rata die interest
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class LateFeePolicy:
    fee_percent: Decimal = Decimal("2")
    monthly_interest_percent: Decimal = Decimal("1")
    grace_days: int = 0
    on_time_discount_percent: Decimal = Decimal("0")


@dataclass(frozen=True, slots=True)
class LateCharges:
    fee: int
    interest: int
    days_late: int

    @property
    def total(self) -> int:
        """Fee plus interest, to add to the amount due."""
        return self.fee + self.interest


def _check_percent(value: object, field: str, upper: Decimal) -> None:
    # Floats would bring binary rounding into money math; ints are exact.
    if not isinstance(value, Decimal | int) or isinstance(value, bool):
        raise ValueError(f"{field}: must be a Decimal, got {type(value).__name__}")
    dec = Decimal(value)
    if not dec.is_finite():
        raise ValueError(f"{field}: must be a finite number, got {value}")
    if dec < 0:
        raise ValueError(f"{field}: must not be negative, got {value}")
    if dec > upper:
        raise ValueError(f"{field}: must be at most {upper}, got {value}")


def _check_generic(policy: LateFeePolicy) -> None:
    # Sanity bounds for any currency; the consumer caps are tighter.
    _check_percent(policy.fee_percent, "fee_percent", _HUNDRED)
    _check_percent(policy.monthly_interest_percent, "monthly_interest_percent", _HUNDRED)
    # 100 % off would make paying on time free: certainly a data-entry error.
    _check_percent(policy.on_time_discount_percent, "on_time_discount_percent", Decimal(99))
    grace = policy.grace_days
    if not isinstance(grace, int) or isinstance(grace, bool):
        raise ValueError(f"grace_days: must be an int, got {type(grace).__name__}")
    if grace < 0:
        raise ValueError(f"grace_days: must not be negative, got {grace}")


def validate_policy(
    policy: LateFeePolicy, currency: str, business_customer: bool = False
) -> LateFeePolicy:
    """Return ``policy`` if lawful for this debt, else raise ``ValueError`` naming the field."""
    _check_generic(policy)
    if normalize_currency(currency) == "BRL" and not business_customer:
        if policy.fee_percent > CONSUMER_MAX_FEE_PERCENT:
            raise ValueError(
                f"fee_percent: at most {CONSUMER_MAX_FEE_PERCENT}% on consumer debt in BRL "
                f"(CDC art. 52 §1), got {policy.fee_percent}"
            )
        if policy.monthly_interest_percent > CONSUMER_MAX_MONTHLY_INTEREST_PERCENT:
            raise ValueError(
                "monthly_interest_percent: at most "
                f"{CONSUMER_MAX_MONTHLY_INTEREST_PERCENT}% a month on consumer debt in BRL "
                f"(CC art. 406, CTN art. 161 §1), got {policy.monthly_interest_percent}"
            )
    return policy


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"amount must be an int of minor units, got {type(amount).__name__}")
    if amount < 0:
        raise ValueError(f"amount must not be negative, got {amount}")


def _local_date_diff(due_at: datetime, now: datetime, tz: str) -> int:
    zone = ZoneInfo(tz)
    for name, value in (("due_at", due_at), ("now", now)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    # Calendar days on the merchant's local calendar: due 23:59 local and paid at
    # 00:01 the next local day is 1 day late, whatever the UTC dates are.
    return (now.astimezone(zone).date() - due_at.astimezone(zone).date()).days


def late_charges(
    amount: int, due_at: datetime, now: datetime, policy: LateFeePolicy, tz: str
) -> LateCharges:
    """Fee and interest owed on ``amount`` due at ``due_at`` if paid at ``now``."""
    _check_amount(amount)
    _check_generic(policy)
    days_late = max(0, _local_date_diff(due_at, now, tz))
    if days_late <= policy.grace_days:
        return LateCharges(fee=0, interest=0, days_late=days_late)
    fee = percent_of(amount, Decimal(policy.fee_percent))
    # One division over the exact product, so interest is rounded exactly once.
    interest = round_minor(
        Decimal(amount)
        * Decimal(policy.monthly_interest_percent)
        * days_late
        / (_HUNDRED * _DAYS_PER_MONTH)
    )
    return LateCharges(fee=fee, interest=interest, days_late=days_late)


def on_time_discount(amount: int, policy: LateFeePolicy) -> int:
    """The discount (positive minor units) for paying by the due date."""
    _check_amount(amount)
    _check_generic(policy)
    return percent_of(amount, Decimal(policy.on_time_discount_percent))
