"""Proration of a mid-period plan change, to the second.

The customer is credited the unused part of the old price and charged the remaining
part of the new one, both for the same remaining fraction of the period. Credit and
charge are each rounded once (half-even, via ``round_minor``) and ``net`` is their
difference, so the invoice lines sum exactly to the net.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing.kit.money import round_minor

__all__ = ["Proration", "prorate"]

_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Proration:
    credit: int  # unused part of the old price, >= 0
    charge: int  # remaining part of the new price, >= 0
    net: int  # charge - credit; negative means the customer is owed money
    fraction: Decimal  # remaining seconds / period seconds, in (0, 1]


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    # Subtracting two datetimes that share a tzinfo uses wall-clock time and ignores
    # DST shifts; in UTC the difference is the real elapsed time.
    return value.astimezone(UTC)


def _check_amount(value: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int of minor units")
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")


def prorate(
    old_amount: int,
    new_amount: int,
    period_start: datetime,
    period_end: datetime,
    change_at: datetime,
) -> Proration:
    """Credit and charge for switching from ``old_amount`` to ``new_amount`` at ``change_at``.

    ``change_at`` must lie in ``[period_start, period_end)``. Time is counted in whole
    elapsed seconds (sub-second parts are floored), so a change at the start gives
    the full amounts.
    """
    _check_amount(old_amount, "old_amount")
    _check_amount(new_amount, "new_amount")
    start = _aware_utc(period_start, "period_start")
    end = _aware_utc(period_end, "period_end")
    at = _aware_utc(change_at, "change_at")
    total = (end - start) // _SECOND
    if total <= 0:
        raise ValueError("period_end must be at least one second after period_start")
    if not start <= at < end:
        raise ValueError("change_at must be within [period_start, period_end)")
    remaining = (end - at) // _SECOND
    # Multiply before dividing so each amount is rounded exactly once, from the
    # exact ratio, rather than from an already-rounded fraction.
    credit = round_minor(Decimal(old_amount * remaining) / Decimal(total))
    charge = round_minor(Decimal(new_amount * remaining) / Decimal(total))
    return Proration(
        credit=credit,
        charge=charge,
        net=charge - credit,
        fraction=Decimal(remaining) / Decimal(total),
    )
