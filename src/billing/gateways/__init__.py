"""Payment gateways: the port, the sandbox and the Stripe adapter."""

from __future__ import annotations

from billing.gateways.declines import classify_decline, payer_message
from billing.gateways.ledger import MemoryLedger, SandboxLedger
from billing.gateways.port import (
    BoletoDetails,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    DeclineType,
    Gateway,
    GatewayError,
    GatewayUnavailable,
    InvalidRequest,
    InvalidSignature,
    InvalidToken,
    MethodChangeFlow,
    MethodChangeState,
    PaymentMethodDeclined,
    PaymentMethodInfo,
    PaymentMethodType,
    PixDetails,
    RefundResult,
)

__all__ = [
    "BoletoDetails",
    "ChargeRequest",
    "ChargeResult",
    "ChargeStatus",
    "DeclineType",
    "Gateway",
    "GatewayError",
    "GatewayUnavailable",
    "InvalidRequest",
    "InvalidSignature",
    "InvalidToken",
    "MemoryLedger",
    "MethodChangeFlow",
    "MethodChangeState",
    "PaymentMethodDeclined",
    "PaymentMethodInfo",
    "PaymentMethodType",
    "PixDetails",
    "RefundResult",
    "SandboxLedger",
    "classify_decline",
    "make_gateway",
    "payer_message",
]


def make_gateway(
    provider: str,
    *,
    secret_key: str | None = None,
    api_base: str | None = None,
    ledger: SandboxLedger | None = None,
) -> Gateway:
    """Build the gateway for ``provider`` ("sandbox" or "stripe")."""
    # Imported here so the sandbox does not load the Stripe SDK and vice versa.
    if provider == "sandbox":
        from billing.gateways.sandbox import SandboxGateway

        return SandboxGateway(ledger)
    if provider == "stripe":
        if not secret_key:
            raise ValueError("the stripe gateway needs a secret_key")
        from billing.gateways.stripe_gateway import StripeGateway

        return StripeGateway(secret_key, api_base)
    raise ValueError(f"unknown gateway provider: {provider!r}")
