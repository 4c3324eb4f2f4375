"""Request and response bodies of the collection-policy settings (API.md)."""

from __future__ import annotations

from typing import Any

import msgspec


class QuietHours(msgspec.Struct):
    start: str = "20:00"
    end: str = "08:00"


class RulerStepIn(msgspec.Struct):
    offset_days: int
    channel: str
    template: str
    tone: str


class CollectionSettings(msgspec.Struct):
    quiet_hours: QuietHours
    max_contacts_per_week: int
    steps: list[RulerStepIn]
    send_at: str = "10:00"  # local time of day the steps are due


class DunningSettings(msgspec.Struct):
    retry_schedule_hours: list[int]
    max_attempts: int
    final_action: str
    jitter_minutes: int = 30
    payday_shift: bool = False


class DunningSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    retry_schedule_hours: list[int] | None = None
    max_attempts: int | None = None
    final_action: str | None = None
    jitter_minutes: int | None = None
    payday_shift: bool | None = None


class CollectionSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    quiet_hours: QuietHours | None = None
    max_contacts_per_week: int | None = None
    steps: list[RulerStepIn] | None = None
    send_at: str | None = None


class LateFeeSettings(msgspec.Struct):
    fee_percent: float
    monthly_interest_percent: float
    grace_days: int
    on_time_discount_percent: float


class LateFeeSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    fee_percent: float | str | None = None
    monthly_interest_percent: float | str | None = None
    grace_days: int | None = None
    on_time_discount_percent: float | str | None = None


class NegotiationSettings(msgspec.Struct):
    enabled: bool
    min_days_overdue: int
    max_installments: int
    min_installment_amount: int
    cash_discount_percent: float
    waive_fees: bool
    cash_discount_on: str = "total"  # total | fees
    break_after_days: int = 10


class NegotiationSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool | None = None
    min_days_overdue: int | None = None
    max_installments: int | None = None
    min_installment_amount: int | None = None
    cash_discount_percent: float | str | None = None
    waive_fees: bool | None = None
    cash_discount_on: str | None = None
    break_after_days: int | None = None


class ProviderIn(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    token: str | None = None  # write-only; omitted keeps the stored one


class ProviderOut(msgspec.Struct):
    url: str
    token: None = None  # never shown: stored encrypted
    token_set: bool = False


class ChannelSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    sms: ProviderIn | None = None
    whatsapp: ProviderIn | None = None


class ChannelSettings(msgspec.Struct):
    sms: ProviderOut | None = None
    whatsapp: ProviderOut | None = None
    email: str = "smtp"  # e-mail goes over the deployment's SMTP


def present(struct: msgspec.Struct) -> dict[str, Any]:
    """The fields the client sent (None means "not given" in these PUT bodies)."""
    return {k: v for k, v in msgspec.to_builtins(struct).items() if v is not None}
