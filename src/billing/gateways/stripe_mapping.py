"""Pure functions turning Stripe objects (as plain dicts) into port results."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from billing.gateways.boleto import barcode_from_line
from billing.gateways.declines import classify_decline
from billing.gateways.pix import qr_png
from billing.gateways.port import (
    BoletoDetails,
    ChargeResult,
    InvalidRequest,
    PaymentMethodInfo,
    PixDetails,
    RefundResult,
)

ATTEMPT_KEY = "billing_attempt_key"  # our idempotency key, in PaymentIntent metadata
# Our ids, in the metadata of the Customers and SetupIntents we create.
MERCHANT_KEY = "billing_merchant_id"
CUSTOMER_KEY = "billing_customer_id"


def object_id(value: Any) -> str | None:
    """A referenced object's id: Stripe sends the id, or the object when it was expanded."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def payment_method_info(pm: dict[str, Any]) -> PaymentMethodInfo:
    kind = pm.get("type")
    if kind == "card":
        card = pm.get("card") or {}
        return PaymentMethodInfo(
            gateway_ref=pm["id"],
            type="card",
            brand=card.get("brand"),
            last4=card.get("last4"),
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
        )
    if kind == "boleto":
        return PaymentMethodInfo(gateway_ref=pm["id"], type="boleto")
    if kind == "pix":
        return PaymentMethodInfo(gateway_ref=pm["id"], type="pix")
    raise InvalidRequest(f"unsupported payment method type: {kind}")


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _pix(next_action: dict[str, Any]) -> PixDetails | None:
    qr = next_action.get("pix_display_qr_code")
    if not qr or not qr.get("data"):
        return None
    expires = _ts(qr.get("expires_at")) or datetime.now(UTC)
    # Rendered locally: Stripe's image_url_png would be one more outbound fetch.
    return PixDetails(copy_paste=qr["data"], qr_png=qr_png(qr["data"]), expires_at=expires)


def _boleto(next_action: dict[str, Any], due_date: date | None) -> BoletoDetails | None:
    details = next_action.get("boleto_display_details")
    if not details or not details.get("number"):
        return None
    line = "".join(c for c in details["number"] if c.isdigit())
    expires = _ts(details.get("expires_at"))
    due = due_date or (expires.date() if expires else datetime.now(UTC).date())
    return BoletoDetails(
        typeable_line=line,
        barcode=barcode_from_line(line),
        due_date=due,
        url=details.get("hosted_voucher_url") or details.get("pdf"),
    )


def _next_action_url(next_action: dict[str, Any]) -> str | None:
    redirect = next_action.get("redirect_to_url") or {}
    url = redirect.get("url")
    return url if isinstance(url, str) else None


def charge_result(pi: dict[str, Any], *, due_date: date | None = None) -> ChargeResult:
    """Map a PaymentIntent to a ChargeResult (codes from ``last_payment_error``)."""
    status = pi.get("status")
    ref = pi.get("id")
    amount: int | None = pi.get("amount")
    currency: str | None = (pi.get("currency") or "").upper() or None
    next_action = pi.get("next_action") or {}
    if status == "succeeded":
        return ChargeResult(status="succeeded", gateway_ref=ref, amount=amount, currency=currency)
    if status in ("processing", "requires_capture"):
        return ChargeResult(status="processing", gateway_ref=ref, amount=amount, currency=currency)
    if status == "requires_action":
        pix, boleto = _pix(next_action), _boleto(next_action, due_date)
        if pix or boleto:
            # Waiting for the payer's bank, not for a 3-D Secure step.
            return ChargeResult(
                status="processing",
                gateway_ref=ref,
                pix=pix,
                boleto=boleto,
                amount=amount,
                currency=currency,
            )
        return ChargeResult(
            status="requires_action",
            gateway_ref=ref,
            failure_code="authentication_required",
            decline_code="authentication_required",
            decline_type="authentication_required",
            message="This payment requires authentication by the payer.",
            next_action_url=_next_action_url(next_action),
            amount=amount,
            currency=currency,
        )
    error = pi.get("last_payment_error") or {}
    code = error.get("code") or ("canceled" if status == "canceled" else "not_confirmed")
    return decline_result(
        code=code,
        decline_code=error.get("decline_code"),
        message=error.get("message"),
        gateway_ref=ref,
        amount=amount,
        currency=currency,
    )


def decline_result(
    *,
    code: str | None,
    decline_code: str | None,
    message: str | None,
    gateway_ref: str | None,
    amount: int | None = None,
    currency: str | None = None,
) -> ChargeResult:
    kind = classify_decline(decline_code, code)
    if kind == "authentication_required":
        # Off-session 3-D Secure: the payer has to come on session (the portal).
        return ChargeResult(
            status="requires_action",
            gateway_ref=gateway_ref,
            failure_code=code,
            decline_code=decline_code or code,
            decline_type=kind,
            message=message,
            amount=amount,
            currency=currency,
        )
    return ChargeResult(
        status="failed",
        gateway_ref=gateway_ref,
        failure_code=code,
        decline_code=decline_code,
        decline_type=kind,
        message=message,
        amount=amount,
        currency=currency,
    )


def refund_result(refund: dict[str, Any]) -> RefundResult:
    status = refund.get("status")
    if status == "succeeded":
        return RefundResult(status="succeeded", gateway_ref=refund["id"])
    if status in ("failed", "canceled"):
        return RefundResult(status="failed", gateway_ref=refund["id"])
    return RefundResult(status="pending", gateway_ref=refund["id"])


def best_intent(intents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Of the intents carrying one attempt key, the one that tells the truth.

    Real Stripe dedups by Idempotency-Key so there is one; an emulator that does not
    (localstripe) may hold several. A success wins (it is the money that moved),
    then anything still pending, then the newest.
    """
    if not intents:
        return None
    rank = {"succeeded": 0, "processing": 1, "requires_capture": 1, "requires_action": 2}
    return min(intents, key=lambda pi: (rank.get(pi.get("status", ""), 3), -pi.get("created", 0)))
