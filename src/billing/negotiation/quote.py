"""The terms of an agreement, computed without touching the database.

Figures, all integer minor units, each rounded once:
- ``principal``: what the chosen overdue installments still owe (total - amount paid);
- ``fees``: their late fee + interest as of now (the figures GET /v1/invoices shows);
- ``waived_fees``: all of ``fees`` when the policy waives them, else 0;
- ``discount``: the cash discount, only for a single installment paid now ("à vista"):
  ``cash_discount_percent`` of the fees kept (``cash_discount_on = "fees"``) or of
  principal + fees kept (``"total"``), rounded half-even by ``percent_of``;
- ``total`` = principal + fees - waived_fees - discount, split by ``allocate`` (the first
  installments carry the leftover cents, so the last one is the smallest).
Installment k (1-based) is due k-1 calendar months after the first, on the same local day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from billing.collection.policy import NegotiationPolicy
from billing.kit.errors import ValidationFailed
from billing.kit.money import allocate, percent_of
from billing.subscriptions.periods import add_months, local_to_utc, to_local

PAYMENT_METHODS = ("card", "pix", "boleto")


@dataclass(frozen=True)
class DebtItem:
    invoice_id: str
    number: int
    due_at: datetime
    outstanding: int
    fees: int  # late fee + interest as of now
    days_overdue: int


@dataclass(frozen=True)
class ScheduledInstallment:
    seq: int
    due_at: datetime
    amount: int


@dataclass(frozen=True)
class Quote:
    installment_count: int
    principal: int
    fees: int
    waived_fees: int
    discount: int
    total: int
    schedule: tuple[ScheduledInstallment, ...]


def schedule_dates(first_due_at: datetime, count: int, tz: str) -> list[datetime]:
    first_local = to_local(first_due_at, tz).replace(tzinfo=None)
    dates = [first_due_at]
    for k in range(1, count):
        dates.append(local_to_utc(add_months(first_local, k), tz))
    return dates


def build_quote(
    items: Sequence[DebtItem],
    policy: NegotiationPolicy,
    count: int,
    *,
    first_due_at: datetime,
    tz: str,
) -> Quote:
    """The terms for ``count`` installments, or ``validation_error`` naming the rule broken."""
    if not items:
        raise ValidationFailed("invoice_ids", "no overdue installment can be renegotiated")
    if not 1 <= count <= policy.max_installments:
        raise ValidationFailed(
            "installments", f"between 1 and {policy.max_installments} (negotiation policy)"
        )
    principal = sum(i.outstanding for i in items)
    fees = sum(i.fees for i in items)
    waived = fees if policy.waive_fees else 0
    kept_fees = fees - waived
    discount = 0
    if count == 1:
        base = kept_fees if policy.cash_discount_on == "fees" else principal + kept_fees
        discount = percent_of(base, policy.cash_discount_percent)
    total = principal + kept_fees - discount
    amounts = allocate(total, count)
    # A single payment settles any debt, however small; a split must respect the minimum.
    if count > 1 and min(amounts) < policy.min_installment_amount:
        raise ValidationFailed(
            "installments",
            f"each installment must be at least {policy.min_installment_amount} "
            "(negotiation policy)",
        )
    dates = schedule_dates(first_due_at, count, tz)
    return Quote(
        installment_count=count,
        principal=principal,
        fees=fees,
        waived_fees=waived,
        discount=discount,
        total=total,
        schedule=tuple(ScheduledInstallment(k + 1, dates[k], amounts[k]) for k in range(count)),
    )


def all_quotes(
    items: Sequence[DebtItem], policy: NegotiationPolicy, *, first_due_at: datetime, tz: str
) -> list[Quote]:
    """Every option the policy allows: pay all now (with the cash discount), or N parts."""
    quotes = []
    for count in range(1, policy.max_installments + 1):
        try:
            quotes.append(build_quote(items, policy, count, first_due_at=first_due_at, tz=tz))
        except ValidationFailed:
            break  # more installments only make each one smaller
    return quotes
