"""The collection ruler's policy (``/v1/settings/collection``), the negotiation policy and
the late-fee policy as stored: parsing, defaults and validation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

from billing.collection.late_fees import LateFeePolicy, validate_policy
from billing.notifications.render import CHANNELS, TEMPLATES, TONES

# Templates a ruler step may use: the others answer an event (a payment, a login request).
STEP_TEMPLATES: tuple[str, ...] = tuple(
    t for t in TEMPLATES if t not in ("payment_received", "portal_login_link")
)
MAX_STEPS = 20
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


@dataclass(frozen=True)
class RulerStep:
    offset_days: int
    channel: str
    template: str
    tone: str

    @property
    def key(self) -> str:
        """Identity of the step on an installment: one message per (offset, channel)."""
        return f"{self.offset_days:+d}:{self.channel}"

    @property
    def slug(self) -> str:
        """A short form of the key for message ids (``p7e`` = D+7 e-mail)."""
        sign = "m" if self.offset_days < 0 else "p"
        return f"{sign}{abs(self.offset_days)}{'eswh'[CHANNELS.index(self.channel)]}"


DEFAULT_STEPS: tuple[RulerStep, ...] = (
    RulerStep(-3, "email", "reminder", "friendly"),
    RulerStep(1, "email", "payment_failed", "friendly"),
    RulerStep(3, "email", "overdue", "friendly"),
    RulerStep(7, "email", "overdue", "firm"),
    RulerStep(15, "email", "final_notice", "final"),
)


@dataclass(frozen=True)
class RulerPolicy:
    quiet_start: time = time(20)
    quiet_end: time = time(8)
    max_contacts_per_week: int = 3
    send_at: time = time(10)  # local time of day a step is due
    steps: tuple[RulerStep, ...] = DEFAULT_STEPS

    def to_json(self) -> dict[str, Any]:
        return {
            "quiet_hours": {"start": _hhmm(self.quiet_start), "end": _hhmm(self.quiet_end)},
            "max_contacts_per_week": self.max_contacts_per_week,
            "send_at": _hhmm(self.send_at),
            "steps": [
                {
                    "offset_days": s.offset_days,
                    "channel": s.channel,
                    "template": s.template,
                    "tone": s.tone,
                }
                for s in self.steps
            ],
        }


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def parse_hhmm(value: str) -> time | None:
    match = _HHMM.fullmatch(value.strip())
    return time(int(match[1]), int(match[2])) if match else None


def ruler_policy(stored: dict[str, Any] | None) -> RulerPolicy:
    """The stored ruler (validated when written), defaults for what is missing."""
    if not stored:
        return RulerPolicy()
    default = RulerPolicy()
    quiet = stored.get("quiet_hours") or {}
    steps = stored.get("steps")
    return RulerPolicy(
        quiet_start=parse_hhmm(quiet.get("start", "")) or default.quiet_start,
        quiet_end=parse_hhmm(quiet.get("end", "")) or default.quiet_end,
        max_contacts_per_week=int(
            stored.get("max_contacts_per_week") or default.max_contacts_per_week
        ),
        send_at=parse_hhmm(stored.get("send_at") or "") or default.send_at,
        steps=default.steps
        if steps is None
        else tuple(
            RulerStep(int(s["offset_days"]), s["channel"], s["template"], s["tone"]) for s in steps
        ),
    )


def validate_ruler(data: dict[str, Any]) -> tuple[RulerPolicy | None, list[dict[str, str]]]:
    """Validate the PUT body (already shaped by the schema); return the policy or errors."""
    errors: list[dict[str, str]] = []

    def bad(f: str, message: str) -> None:
        errors.append({"field": f, "message": message})

    quiet = data.get("quiet_hours") or {}
    start = parse_hhmm(str(quiet.get("start", "20:00")))
    end = parse_hhmm(str(quiet.get("end", "08:00")))
    if start is None:
        bad("quiet_hours.start", "a local time as HH:MM")
    if end is None:
        bad("quiet_hours.end", "a local time as HH:MM")
    send_at = parse_hhmm(str(data.get("send_at") or "10:00"))
    if send_at is None:
        bad("send_at", "a local time as HH:MM")
    cap = data.get("max_contacts_per_week", 3)
    if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= 21:
        bad("max_contacts_per_week", "between 1 and 21")
    raw_steps = data.get("steps") or []
    if len(raw_steps) > MAX_STEPS:
        bad("steps", f"at most {MAX_STEPS} steps")
    steps: list[RulerStep] = []
    seen: set[str] = set()
    for i, s in enumerate(raw_steps):
        where = f"steps[{i}]"
        offset = s.get("offset_days")
        if not isinstance(offset, int) or isinstance(offset, bool) or not -60 <= offset <= 120:
            bad(f"{where}.offset_days", "whole days between -60 and 120")
            continue
        if s.get("channel") not in CHANNELS:
            bad(f"{where}.channel", f"one of {', '.join(CHANNELS)}")
            continue
        if s.get("template") not in STEP_TEMPLATES:
            bad(f"{where}.template", f"one of {', '.join(STEP_TEMPLATES)}")
        if s.get("tone") not in TONES:
            bad(f"{where}.tone", f"one of {', '.join(TONES)}")
        step = RulerStep(offset, s["channel"], str(s.get("template")), str(s.get("tone")))
        if step.key in seen:
            bad(where, "two steps on the same day and channel")
        seen.add(step.key)
        steps.append(step)
    if (
        send_at is not None
        and start is not None
        and end is not None
        and _quiet(send_at, start, end)
    ):
        bad("send_at", "falls inside the quiet hours")
    if errors or start is None or end is None or send_at is None:
        return None, errors
    policy = RulerPolicy(
        quiet_start=start,
        quiet_end=end,
        max_contacts_per_week=int(cap),
        send_at=send_at,
        steps=tuple(sorted(steps, key=lambda st: (st.offset_days, st.channel))),
    )
    return policy, []


def _quiet(at: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= at < end
    return at >= start or at < end


# --- late fees --------------------------------------------------------------------------


def late_fee_policy(stored: dict[str, Any] | None) -> LateFeePolicy:
    """Same reading as invoices.settlement.policy_from_settings: strings or numbers."""
    if not stored:
        return LateFeePolicy()
    d = LateFeePolicy()

    def pct(name: str, fallback: Decimal) -> Decimal:
        value = stored.get(name)
        return fallback if value is None else Decimal(str(value))

    return LateFeePolicy(
        fee_percent=pct("fee_percent", d.fee_percent),
        monthly_interest_percent=pct("monthly_interest_percent", d.monthly_interest_percent),
        grace_days=int(stored.get("grace_days") or 0),
        on_time_discount_percent=pct("on_time_discount_percent", d.on_time_discount_percent),
    )


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        dec = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return dec if dec.is_finite() else None


def validate_late_fees(
    data: dict[str, Any], currency: str
) -> tuple[LateFeePolicy | None, list[dict[str, str]]]:
    """Parse and check the PUT body; BRL consumer caps apply (business payers are exempted
    when charged, per customer)."""
    d = LateFeePolicy()
    values: dict[str, Decimal] = {}
    errors: list[dict[str, str]] = []
    for name, fallback in (
        ("fee_percent", d.fee_percent),
        ("monthly_interest_percent", d.monthly_interest_percent),
        ("on_time_discount_percent", d.on_time_discount_percent),
    ):
        raw = data.get(name)
        dec = fallback if raw is None else _decimal(raw)
        if dec is None:
            errors.append({"field": name, "message": "a number (percent)"})
        else:
            values[name] = dec
    grace = data.get("grace_days", 0)
    if not isinstance(grace, int) or isinstance(grace, bool) or not 0 <= grace <= 60:
        errors.append({"field": "grace_days", "message": "whole days between 0 and 60"})
    if errors:
        return None, errors
    policy = LateFeePolicy(grace_days=int(grace), **values)
    try:
        validate_policy(policy, currency, business_customer=False)
    except ValueError as exc:
        field_name, _, message = str(exc).partition(": ")
        return None, [{"field": field_name, "message": message or str(exc)}]
    return policy, []


def late_fees_json(policy: LateFeePolicy) -> dict[str, Any]:
    # Strings keep the exact decimal (a float 0.1 is not 0.1); readers use Decimal(str(v)).
    return {
        "fee_percent": str(policy.fee_percent),
        "monthly_interest_percent": str(policy.monthly_interest_percent),
        "grace_days": policy.grace_days,
        "on_time_discount_percent": str(policy.on_time_discount_percent),
    }


# --- negotiation (stored for the renegotiation issue) -----------------------------------


@dataclass(frozen=True)
class NegotiationPolicy:
    enabled: bool = False
    min_days_overdue: int = 30
    max_installments: int = 6
    min_installment_amount: int = 5000
    cash_discount_percent: Decimal = Decimal("0")
    waive_fees: bool = False
    # "fees": the cash discount applies to late fee + interest only; "total": to everything.
    cash_discount_on: str = "total"
    # An agreement installment overdue by more than this many days breaks the agreement.
    break_after_days: int = 10
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "min_days_overdue": self.min_days_overdue,
            "max_installments": self.max_installments,
            "min_installment_amount": self.min_installment_amount,
            "cash_discount_percent": str(self.cash_discount_percent),
            "waive_fees": self.waive_fees,
            "cash_discount_on": self.cash_discount_on,
            "break_after_days": self.break_after_days,
        }


def negotiation_policy(stored: dict[str, Any] | None) -> NegotiationPolicy:
    if not stored:
        return NegotiationPolicy()
    d = NegotiationPolicy()
    return NegotiationPolicy(
        enabled=bool(stored.get("enabled", d.enabled)),
        min_days_overdue=int(stored.get("min_days_overdue", d.min_days_overdue)),
        max_installments=int(stored.get("max_installments", d.max_installments)),
        min_installment_amount=int(stored.get("min_installment_amount", d.min_installment_amount)),
        cash_discount_percent=Decimal(
            str(stored.get("cash_discount_percent", d.cash_discount_percent))
        ),
        waive_fees=bool(stored.get("waive_fees", d.waive_fees)),
        cash_discount_on=str(stored.get("cash_discount_on", d.cash_discount_on)),
        break_after_days=int(stored.get("break_after_days", d.break_after_days)),
    )


CASH_DISCOUNT_ON = ("total", "fees")


def validate_negotiation(
    data: dict[str, Any],
) -> tuple[NegotiationPolicy | None, list[dict[str, str]]]:
    d = NegotiationPolicy()
    errors: list[dict[str, str]] = []

    def whole(name: str, low: int, high: int, default: int) -> int:
        value = data.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors.append({"field": name, "message": f"a whole number between {low} and {high}"})
            return default
        return value

    min_days = whole("min_days_overdue", 0, 3650, d.min_days_overdue)
    max_inst = whole("max_installments", 1, 48, d.max_installments)
    min_amount = whole("min_installment_amount", 0, 10**12, d.min_installment_amount)
    raw = data.get("cash_discount_percent", d.cash_discount_percent)
    discount = _decimal(raw)
    if discount is None or not Decimal(0) <= discount < Decimal(100):
        errors.append({"field": "cash_discount_percent", "message": "a percent from 0 to 99"})
        discount = d.cash_discount_percent
    break_after = whole("break_after_days", 1, 180, d.break_after_days)
    discount_on = data.get("cash_discount_on", d.cash_discount_on)
    if discount_on not in CASH_DISCOUNT_ON:
        errors.append({"field": "cash_discount_on", "message": "one of total, fees"})
    if errors:
        return None, errors
    return (
        NegotiationPolicy(
            enabled=bool(data.get("enabled", d.enabled)),
            min_days_overdue=min_days,
            max_installments=max_inst,
            min_installment_amount=min_amount,
            cash_discount_percent=discount,
            waive_fees=bool(data.get("waive_fees", d.waive_fees)),
            cash_discount_on=str(discount_on),
            break_after_days=break_after,
        ),
        [],
    )
