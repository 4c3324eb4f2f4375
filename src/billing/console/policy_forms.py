"""The policy editors' forms (dunning, late fees, negotiation): which fields, how a stored
policy is shown, and how a submitted form becomes the ``/v1/settings/...`` body. Only the
*shape* is checked here (a number where a number goes); the rules stay in the settings
services, whose errors the page shows field by field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.console.charts import money
from billing.console.views import parse_amount
from billing.dunning.policy import FINAL_ACTIONS


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # int | decimal | bool | select | int_list | money
    options: tuple[str, ...] = ()


SECTIONS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "dunning": ("Retries (dunning)", (
        Field("retry_schedule_hours", "Retry after (hours after each failure, comma-separated)",
              "int_list"),
        Field("max_attempts", "Most attempts per installment", "int"),
        Field("final_action", "When retries run out", "select", FINAL_ACTIONS),
        Field("jitter_minutes", "Spread retries by up to (minutes)", "int"),
        Field("payday_shift", "Move retries to paydays (5th, 20th)", "bool"),
    )),
    "late_fees": ("Late fees", (
        Field("fee_percent", "Late fee (%)", "decimal"),
        Field("monthly_interest_percent", "Interest per month (%)", "decimal"),
        Field("grace_days", "Grace days", "int"),
        Field("on_time_discount_percent", "On-time discount (%)", "decimal"),
    )),
    "negotiation": ("Negotiation", (
        Field("enabled", "Offer renegotiation in the portal", "bool"),
        Field("min_days_overdue", "Minimum days overdue", "int"),
        Field("max_installments", "Most installments", "int"),
        Field("min_installment_amount", "Smallest installment", "money"),
        Field("cash_discount_percent", "Cash discount (%)", "decimal"),
        Field("cash_discount_on", "Cash discount applies to", "select", ("total", "fees")),
        Field("waive_fees", "Waive late fees in agreements", "bool"),
        Field("break_after_days", "Agreement breaks after (days overdue)", "int"),
    )),
}  # fmt: skip


def shown(section: str, stored: dict[str, Any], currency: str) -> dict[str, str]:
    """A stored policy as the form's text values."""
    values: dict[str, str] = {}
    for f in SECTIONS[section][1]:
        value = stored.get(f.name)
        if f.kind == "bool":
            values[f.name] = "1" if value else ""
        elif f.kind == "int_list":
            values[f.name] = ", ".join(str(v) for v in value or [])
        elif f.kind == "money":
            # The form takes major units ("50.00"), the policy stores minor units.
            values[f.name] = money(int(value or 0), currency).split(" ", 1)[1].replace(",", "")
        else:
            values[f.name] = "" if value is None else str(value)
    return values


def parsed(
    section: str, form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], list[dict[str, str]]]:
    """The body for the settings service, the values to show again, and shape errors."""
    body: dict[str, Any] = {}
    again: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    for f in SECTIONS[section][1]:
        raw = form.get(f.name, "").strip()
        again[f.name] = raw
        if f.kind == "bool":
            body[f.name] = bool(raw)
        elif f.kind == "int":
            try:
                body[f.name] = int(raw)
            except ValueError:
                errors.append({"field": f.name, "message": "a whole number"})
        elif f.kind == "int_list":
            try:
                body[f.name] = [int(p) for p in raw.replace(";", ",").split(",") if p.strip()]
            except ValueError:
                errors.append({"field": f.name, "message": "whole numbers separated by commas"})
        elif f.kind == "money":
            amount = parse_amount(raw)
            if amount is None:
                errors.append({"field": f.name, "message": "an amount such as 50.00"})
            else:
                body[f.name] = amount
        else:  # decimal (validated as such by the policy) and select
            body[f.name] = raw
    return body, again, errors
