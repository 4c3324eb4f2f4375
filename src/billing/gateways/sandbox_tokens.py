"""The sandbox's test tokens, named and behaving like Stripe's test payment methods.

Departure from live Stripe, on purpose: Stripe validates some decline cards when they are
attached; here every ``pm_card_chargeDeclined*`` attaches fine and declines at charge
(Stripe's test-mode token semantics) so merchants can exercise dunning end to end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from billing.gateways.port import DeclineType


@dataclass(frozen=True, slots=True)
class CardSpec:
    brand: str
    last4: str
    # What a charge does: None = succeeds.
    failure_code: str | None = None
    decline_code: str | None = None
    decline_type: DeclineType | None = None
    message: str | None = None
    # insufficientFundsTimes{N}: decline this many times per attached method, then succeed.
    decline_times: int | None = None


EXP_MONTH = 12
EXP_YEAR = 2034

_DECLINED = "Your card was declined."

CARDS: dict[str, CardSpec] = {
    "pm_card_visa": CardSpec("visa", "4242"),
    "pm_card_mastercard": CardSpec("mastercard", "4444"),
    "pm_card_chargeDeclined": CardSpec(
        "visa", "0002", "card_declined", "generic_decline", "soft", _DECLINED
    ),
    "pm_card_chargeDeclinedInsufficientFunds": CardSpec(
        "visa",
        "9995",
        "card_declined",
        "insufficient_funds",
        "soft",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedProcessingError": CardSpec(
        "visa",
        "0119",
        "processing_error",
        "processing_error",
        "soft",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "pm_card_chargeDeclinedExpiredCard": CardSpec(
        "visa", "0069", "expired_card", "expired_card", "hard", "Your card has expired."
    ),
    "pm_card_chargeDeclinedLostCard": CardSpec(
        "visa", "9987", "card_declined", "lost_card", "hard", _DECLINED
    ),
    "pm_card_chargeDeclinedStolenCard": CardSpec(
        "visa", "9979", "card_declined", "stolen_card", "hard", _DECLINED
    ),
    "pm_card_chargeDeclinedFraudulent": CardSpec(
        "visa", "0019", "card_declined", "fraudulent", "hard", _DECLINED
    ),
    "pm_card_authenticationRequired": CardSpec(
        "visa",
        "3184",
        "authentication_required",
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}

_TIMES = re.compile(r"pm_card_insufficientFundsTimes([1-9][0-9]{0,2})")

NON_CARD_TOKENS = frozenset({"pix", "boleto"})


def card_spec(token: str) -> CardSpec | None:
    """The card behind a token, or None if it is not a card token we know."""
    spec = CARDS.get(token)
    if spec is not None:
        return spec
    match = _TIMES.fullmatch(token)
    if match is None:
        return None
    return CardSpec(
        "visa",
        "9995",
        "card_declined",
        "insufficient_funds",
        "soft",
        "Your card has insufficient funds.",
        decline_times=int(match.group(1)),
    )


def is_known_token(token: str) -> bool:
    return token in NON_CARD_TOKENS or card_spec(token) is not None
