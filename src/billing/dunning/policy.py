"""The merchant's dunning policy (``/v1/settings/dunning``): parsing, defaults, validation.

``max_attempts`` counts every automatic charge of an installment on one payment method,
the first charge included: the default 5 is the first charge plus the 4 retries of the
default schedule. Whichever runs out first (attempts or schedule entries) ends retrying.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from billing.dunning.schedule import DEFAULT_RETRY_SCHEDULE_HOURS

FinalAction = Literal["cancel", "mark_unpaid", "leave_past_due"]
FINAL_ACTIONS: tuple[str, ...] = ("cancel", "mark_unpaid", "leave_past_due")
MAX_SCHEDULE_ENTRIES = 20
MAX_SCHEDULE_HOURS = 24 * 90  # retrying a card three months later helps nobody
MAX_JITTER_MINUTES = 240


@dataclass(frozen=True)
class DunningPolicy:
    retry_schedule_hours: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE_HOURS
    max_attempts: int = len(DEFAULT_RETRY_SCHEDULE_HOURS) + 1
    # Keep the customer: stop renewing but keep collecting the debt (see README).
    final_action: str = "mark_unpaid"
    jitter_minutes: int = 30
    payday_shift: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "retry_schedule_hours": list(self.retry_schedule_hours),
            "max_attempts": self.max_attempts,
            "final_action": self.final_action,
            "jitter_minutes": self.jitter_minutes,
            "payday_shift": self.payday_shift,
        }


def dunning_policy(stored: dict[str, Any] | None) -> DunningPolicy:
    """The stored policy, defaults for what is missing (stored values were validated)."""
    if not stored:
        return DunningPolicy()
    default = DunningPolicy()
    schedule = tuple(int(h) for h in stored.get("retry_schedule_hours") or ())
    return DunningPolicy(
        retry_schedule_hours=schedule or default.retry_schedule_hours,
        max_attempts=int(
            stored.get("max_attempts") or len(schedule or default.retry_schedule_hours) + 1
        ),
        final_action=str(stored.get("final_action") or default.final_action),
        jitter_minutes=int(stored.get("jitter_minutes", default.jitter_minutes)),
        payday_shift=bool(stored.get("payday_shift", default.payday_shift)),
    )


def validate_dunning(policy: DunningPolicy) -> list[dict[str, str]]:
    """Every problem of the policy as ``{field, message}`` (empty when valid)."""
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    hours = policy.retry_schedule_hours
    if not hours:
        bad("retry_schedule_hours", "needs at least one entry")
    elif len(hours) > MAX_SCHEDULE_ENTRIES:
        bad("retry_schedule_hours", f"at most {MAX_SCHEDULE_ENTRIES} entries")
    else:
        if any(h < 1 or h > MAX_SCHEDULE_HOURS for h in hours):
            bad("retry_schedule_hours", f"each entry between 1 and {MAX_SCHEDULE_HOURS} hours")
        if any(b <= a for a, b in pairwise(hours)):
            bad("retry_schedule_hours", "hours from the first failure must strictly increase")
    if not 1 <= policy.max_attempts <= MAX_SCHEDULE_ENTRIES + 1:
        bad("max_attempts", f"between 1 and {MAX_SCHEDULE_ENTRIES + 1}")
    if policy.final_action not in FINAL_ACTIONS:
        bad("final_action", f"one of {', '.join(FINAL_ACTIONS)}")
    if not 0 <= policy.jitter_minutes <= MAX_JITTER_MINUTES:
        bad("jitter_minutes", f"between 0 and {MAX_JITTER_MINUTES}")
    return errors
