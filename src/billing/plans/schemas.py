from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from billing.models import Plan


class PlanCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    amount: int
    currency: str
    interval: str
    interval_count: int = 1
    trial_days: int = 0
    billing_cycles: int | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class PlanPatch(msgspec.Struct):
    """``name``, ``active`` and ``metadata`` may change; anything else is refused by name."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    # Accepted by the decoder only so the refusal can name the field (422, not a parse error).
    amount: Any = msgspec.UNSET
    currency: Any = msgspec.UNSET
    interval: Any = msgspec.UNSET
    interval_count: Any = msgspec.UNSET
    trial_days: Any = msgspec.UNSET
    billing_cycles: Any = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {
            f: getattr(self, f)
            for f in self.__struct_fields__
            if getattr(self, f) is not msgspec.UNSET
        }


class PlanOut(msgspec.Struct):
    id: str
    name: str
    amount: int
    currency: str
    interval: str
    interval_count: int
    trial_days: int
    billing_cycles: int | None
    active: bool
    metadata: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, p: Plan) -> PlanOut:
        return cls(
            id=p.id,
            name=p.name,
            amount=p.amount,
            currency=p.currency,
            interval=p.interval,
            interval_count=p.interval_count,
            trial_days=p.trial_days,
            billing_cycles=p.billing_cycles,
            active=p.active,
            metadata=p.metadata_ or {},
            created_at=p.created_at,
        )


class PlanList(msgspec.Struct):
    data: list[PlanOut]
    has_more: bool
