"""The gateway port: what the rest of billing may ask of a payment gateway.

Everything here is provider-neutral. Money is integer minor units plus an upper-case
ISO 4217 currency. A decline is a *result* (``ChargeResult.status == "failed"``); an
exception means the call itself went wrong, and ``GatewayUnavailable`` in particular
means "the outcome is unknown: ask ``find_charge`` before doing anything else"
(invariant 3: recover by asking the gateway, never by charging again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol, runtime_checkable

PaymentMethodType = Literal["card", "boleto", "pix"]
ChargeStatus = Literal["succeeded", "failed", "requires_action", "processing"]
DeclineType = Literal["soft", "hard", "authentication_required"]
RefundStatus = Literal["succeeded", "pending", "failed"]


class GatewayError(Exception):
    """Base of every error raised by a gateway adapter."""


class GatewayUnavailable(GatewayError):
    """Network failure, timeout, 5xx or exhausted rate-limit retries.

    The outcome of a write is unknown: the caller must recover with ``find_charge``.
    """


class InvalidToken(GatewayError):
    """The payment-method token is unknown to the gateway."""


class InvalidRequest(GatewayError):
    """The gateway refused the request as malformed (a bug or bad input, not a decline)."""


class InvalidSignature(GatewayError):
    """A webhook could not be authenticated (bad, missing or stale signature)."""


class PaymentMethodDeclined(GatewayError):
    """The gateway refused to save the payment method (attach time)."""

    def __init__(
        self,
        *,
        code: str | None,
        decline_code: str | None,
        decline_type: DeclineType,
        message: str | None,
    ) -> None:
        super().__init__(message or code or "payment method declined")
        self.code = code
        self.decline_code = decline_code
        self.decline_type = decline_type
        self.message = message


@dataclass(frozen=True, slots=True)
class PaymentMethodInfo:
    gateway_ref: str
    type: PaymentMethodType
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True, slots=True)
class MethodChangeFlow:
    """How the payer gives a new method: a client secret for Stripe.js, or a page URL."""

    setup_ref: str
    client_secret: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class MethodChangeState:
    """A method change as the gateway knows it now (never as the payer's browser says)."""

    setup_ref: str
    gateway_customer: str | None
    # The gateway's word: succeeded, requires_payment_method, requires_action, processing,
    # canceled.
    status: str
    payment_method: str | None = None  # the saved method's token once succeeded
    client_secret: str | None = None


@dataclass(frozen=True, slots=True)
class PixDetails:
    copy_paste: str  # EMV BR Code ("Pix copia e cola"), CRC16 included
    qr_png: bytes
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class BoletoDetails:
    typeable_line: str  # linha digitável, 47 digits
    barcode: str  # 44 digits
    due_date: date
    url: str | None = None  # hosted voucher / PDF when the gateway has one


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    idempotency_key: str  # deterministic, from our attempt id (invariant 3)
    amount: int  # minor units
    currency: str  # ISO 4217, upper case
    gateway_customer: str
    payment_method: str
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # bool is an int subclass; a float amount is a bug worth failing loudly on.
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("amount must be an integer of minor units")
        if self.amount <= 0:
            raise ValueError("amount must be positive")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError("currency must be an upper-case ISO 4217 code")
        if not self.idempotency_key:
            raise ValueError("idempotency_key is required")


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    gateway_ref: str | None = None
    failure_code: str | None = None
    decline_code: str | None = None
    decline_type: DeclineType | None = None
    message: str | None = None
    next_action_url: str | None = None
    pix: PixDetails | None = None
    boleto: BoletoDetails | None = None
    amount: int | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class RefundResult:
    status: RefundStatus
    gateway_ref: str


@runtime_checkable
class Gateway(Protocol):
    """What every part of billing uses to talk to a payment gateway."""

    async def ensure_customer(
        self, *, merchant_id: str, customer_id: str, email: str, name: str
    ) -> str: ...

    async def attach_payment_method(
        self, *, gateway_customer: str, token: str
    ) -> PaymentMethodInfo: ...

    async def detach_payment_method(self, gateway_ref: str) -> None: ...

    async def start_method_change(
        self,
        *,
        gateway_customer: str,
        return_url: str,
        merchant_id: str | None = None,
        customer_id: str | None = None,
    ) -> MethodChangeFlow:
        """``merchant_id`` and ``customer_id`` are ours, kept with the setup so a later
        report of it (Stripe's setup_intent.succeeded) can be traced to our payer."""
        ...

    async def retrieve_method_change(self, setup_ref: str) -> MethodChangeState:
        """Raises ``InvalidRequest`` for a setup the gateway does not know."""
        ...

    async def charge(self, *, request: ChargeRequest) -> ChargeResult: ...

    async def cancel_charge(self, *, gateway_ref: str) -> ChargeResult:
        """Cancel a charge still waiting for the payer (3-D Secure) so it can never complete.

        Returns the charge's final state: ``failed`` with ``failure_code="canceled"``, or
        ``succeeded`` when the payer completed it first (then it must not be charged again).
        """
        ...

    async def find_charge(
        self, *, idempotency_key: str, gateway_customer: str
    ) -> ChargeResult | None: ...

    async def refund(
        self, *, gateway_ref: str, amount: int | None, idempotency_key: str
    ) -> RefundResult: ...

    async def create_pix(self, request: ChargeRequest) -> ChargeResult: ...

    async def create_boleto(self, request: ChargeRequest, due_date: date) -> ChargeResult: ...

    async def verify_webhook(
        self, *, payload: bytes, headers: Mapping[str, str], secret: str, now: datetime
    ) -> dict[str, Any]: ...

    async def aclose(self) -> None:
        """Release connections; the gateway is unusable afterwards."""
        ...
