"""Payment methods, payment attempts and gateway settings as API.md shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from billing.models import PaymentAttempt, PaymentMethod


class PaymentMethodCreate(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    set_default: bool = True


class PaymentMethodOut(msgspec.Struct):
    id: str
    customer_id: str
    type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    disabled_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, m: PaymentMethod) -> PaymentMethodOut:
        return cls(
            id=m.id,
            customer_id=m.customer_id,
            type=m.type,
            brand=m.brand,
            last4=m.last4,
            exp_month=m.exp_month,
            exp_year=m.exp_year,
            is_default=m.is_default,
            disabled_reason=m.disabled_reason,
            created_at=m.created_at,
        )


class PaymentMethodList(msgspec.Struct):
    data: list[PaymentMethodOut]
    has_more: bool = False


class PayRequest(msgspec.Struct, forbid_unknown_fields=True):
    payment_method_id: str | None = None


class PaymentOut(msgspec.Struct):
    id: str
    invoice_id: str
    amount: int
    currency: str
    status: str
    failure_code: str | None
    decline_type: str | None
    attempted_at: datetime
    decline_code: str | None
    failure_message: str | None
    attempt_number: int
    initiated_by: str
    payment_method_id: str | None
    next_action_url: str | None
    completed_at: datetime | None
    # Pix "copia e cola" / boleto typeable line for payments the payer completes later.
    pix: dict[str, Any] | None
    boleto: dict[str, Any] | None

    @classmethod
    def of(cls, a: PaymentAttempt) -> PaymentOut:
        details = a.details or {}
        return cls(
            id=a.id,
            invoice_id=a.invoice_id,
            amount=a.amount,
            currency=a.currency,
            status=a.status,
            failure_code=a.failure_code,
            decline_type=a.decline_type,
            attempted_at=a.attempted_at,
            decline_code=a.decline_code,
            failure_message=a.failure_message,
            attempt_number=a.attempt_number,
            initiated_by=a.initiated_by,
            payment_method_id=a.payment_method_id,
            next_action_url=a.next_action_url,
            completed_at=a.completed_at,
            pix=details.get("pix"),
            boleto=details.get("boleto"),
        )


class PaymentList(msgspec.Struct):
    data: list[PaymentOut]
    has_more: bool


class GatewaySettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    provider: str
    secret_key: str | None = None
    webhook_secret: str | None = None
    # Stripe's pk_test_…/pk_live_… for the portal's card form; omitted keeps it, "" clears it.
    publishable_key: str | None = None


class GatewaySettingsOut(msgspec.Struct):
    """Secrets are write-only: only whether one is set, and the key's last characters."""

    provider: str
    secret_key_set: bool
    secret_key_last4: str | None
    webhook_secret_set: bool
    # Not a secret (it is sent to payers' browsers), so shown as stored.
    publishable_key: str | None = None
