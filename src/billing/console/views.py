"""What the console pages show, assembled from the report and history services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from billing.console.charts import Series, bar_chart, money
from billing.models import Merchant
from billing.reports import service as reports
from billing.reports.mrr import mrr
from billing.reports.recovery import CHANNELS, recovery

CHANNEL_NAMES = {
    "automatic_retry": "Automatic retry",
    "ruler_message": "Ruler message",
    "portal": "Portal payment",
    "agreement": "Agreement",
    "other": "Other",
}
BUCKET_NAMES = {
    "current": "Not yet due",
    "1_30": "1–30 days",
    "31_60": "31–60 days",
    "61_90": "61–90 days",
    "90_plus": "90+ days",
}


@dataclass(frozen=True)
class Dashboard:
    mrr_now: int
    active_subscriptions: int
    recovered_this_month: int
    outstanding: int
    charts: dict[str, str]  # chart id -> inline SVG markup


async def dashboard(session: AsyncSession, merchant: Merchant, *, now: datetime) -> Dashboard:
    tz, cur = merchant.timezone, merchant.currency
    months = await mrr(session, merchant.id, currency=cur, now=now, timezone=tz)
    recovered = await recovery(session, merchant.id, now=now, timezone=tz)
    aging = await reports.aging(session, merchant.id, now=now)
    month_labels = [r.period_start[:7] for r in months]
    charts = {
        "chart-mrr": bar_chart(
            "chart-mrr", "MRR by month", month_labels,
            [Series("MRR", [r.mrr for r in months])], cur,
        ),
        "chart-recovery": bar_chart(
            "chart-recovery", "Recovered by channel", [r.period_start[:7] for r in recovered],
            [
                Series(CHANNEL_NAMES[ch], [getattr(r, f"{ch}_amount") for r in recovered])
                for ch in CHANNELS
            ],
            cur,
        ),
        "chart-aging": bar_chart(
            "chart-aging", "Outstanding by age", [BUCKET_NAMES[r.bucket] for r in aging],
            [Series("Outstanding", [r.amount for r in aging])], cur,
        ),
    }  # fmt: skip
    return Dashboard(
        mrr_now=months[-1].mrr,
        active_subscriptions=months[-1].active_subscriptions,
        recovered_this_month=recovered[-1].total_amount,
        outstanding=sum(r.amount for r in aging),
        charts=charts,
    )


@dataclass(frozen=True)
class HistoryLine:
    when: str
    kind: str
    details: str


MONEY_FIELDS = {"amount", "total", "principal", "amount_paid", "restored_amount"}


def history_lines(entries: Sequence[Any], currency: str, timezone: str) -> list[HistoryLine]:
    """The history service's entries as table rows (its JSON shape, made readable)."""
    tz = ZoneInfo(timezone)
    lines = []
    for e in entries:
        fields = msgspec.structs.asdict(e)
        details = []
        for key, value in fields.items():
            if key in ("id", "occurred_at") or value in (None, ""):
                continue
            if key in MONEY_FIELDS and isinstance(value, int):
                value = money(value, currency)
            elif isinstance(value, datetime):
                value = f"{value.astimezone(tz):%Y-%m-%d %H:%M}"
            details.append(f"{key.replace('_', ' ')}: {value}")
        kind = type(e).__struct_config__.tag
        lines.append(
            HistoryLine(
                f"{e.occurred_at.astimezone(tz):%Y-%m-%d %H:%M}",
                str(kind).replace("_", " "),
                "; ".join(details),
            )
        )
    return lines


def parse_amount(text: str) -> int | None:
    """'150', '150.00' or '150,00' in major units to minor units; None if not an amount."""
    cleaned = text.strip().replace(" ", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        return None
    return int(value * 100)


BLANK_STEP_ROWS = 2  # empty rows offered for new steps


def ruler_form(policy: dict[str, Any]) -> dict[str, Any]:
    """The stored ruler as form values, plus blank rows to add steps."""
    steps = [{k: str(v) for k, v in s.items()} | {"delete": ""} for s in policy["steps"]] + [
        {"offset_days": "", "channel": "", "template": "", "tone": "", "delete": ""}
    ] * (BLANK_STEP_ROWS)
    return {
        "quiet_start": policy["quiet_hours"]["start"],
        "quiet_end": policy["quiet_hours"]["end"],
        "send_at": policy["send_at"],
        "max_contacts_per_week": str(policy["max_contacts_per_week"]),
        "steps": steps,
    }


def _int_or_text(value: str) -> int | str:
    # Left as text when it is not a whole number, so the policy's validation names the field.
    try:
        return int(value.strip())
    except ValueError:
        return value


def ruler_from_form(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The submitted form as the ``/v1/settings/collection`` body, and the values to show
    again if it is refused. Rows with no offset, or ticked for deletion, are left out."""
    rows = []
    i = 0
    while f"steps-{i}-offset_days" in form:
        row = {
            k: form.get(f"steps-{i}-{k}", "").strip()
            for k in ("offset_days", "channel", "template", "tone", "delete")
        }
        rows.append(row)
        i += 1
    body = {
        "quiet_hours": {"start": form.get("quiet_start", ""), "end": form.get("quiet_end", "")},
        "send_at": form.get("send_at", ""),
        "max_contacts_per_week": _int_or_text(form.get("max_contacts_per_week", "")),
        "steps": [
            {
                "offset_days": _int_or_text(r["offset_days"]),
                "channel": r["channel"],
                "template": r["template"],
                "tone": r["tone"],
            }
            for r in rows
            if r["offset_days"] and not r["delete"]
        ],
    }
    shown = {
        "quiet_start": form.get("quiet_start", ""),
        "quiet_end": form.get("quiet_end", ""),
        "send_at": form.get("send_at", ""),
        "max_contacts_per_week": form.get("max_contacts_per_week", ""),
        "steps": rows,
    }
    return body, shown
