from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from billing.models import Subscription


class SubscriptionCreate(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: str
    plan_id: str
    payment_method_id: str | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] = "charge_automatically"
    # None: the plan's trial_days; 0: no trial even if the plan has one.
    trial_days: int | None = None
    days_until_due: int = 3


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    at_period_end: bool = True


class ChangePlanIn(msgspec.Struct, forbid_unknown_fields=True):
    plan_id: str
    proration: Literal["create_prorations", "none"] = "create_prorations"


class SubscriptionOut(msgspec.Struct):
    id: str
    customer_id: str
    plan_id: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    trial_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    cycles_billed: int
    ended_at: datetime | None
    paused_at: datetime | None
    collection_method: str
    days_until_due: int
    payment_method_id: str | None
    pending_credit: int
    latest_invoice_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, s: Subscription, latest_invoice_id: str | None = None) -> SubscriptionOut:
        return cls(
            id=s.id,
            customer_id=s.customer_id,
            plan_id=s.plan_id,
            status=s.status,
            current_period_start=s.current_period_start,
            current_period_end=s.current_period_end,
            trial_end=s.trial_end,
            cancel_at_period_end=s.cancel_at_period_end,
            canceled_at=s.canceled_at,
            cycles_billed=s.cycles_billed,
            ended_at=s.ended_at,
            paused_at=s.paused_at,
            collection_method=s.collection_method,
            days_until_due=s.days_until_due,
            payment_method_id=s.payment_method_id,
            pending_credit=s.pending_credit,
            latest_invoice_id=latest_invoice_id,
            created_at=s.created_at,
        )


class SubscriptionList(msgspec.Struct):
    data: list[SubscriptionOut]
    has_more: bool
