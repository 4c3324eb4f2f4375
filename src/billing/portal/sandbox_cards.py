"""The test cards the sandbox's card page offers (Stripe's test-token names)."""

from __future__ import annotations

SANDBOX_CARDS: list[tuple[str, str]] = [
    ("pm_card_visa", "Visa 4242 — approved"),
    ("pm_card_mastercard", "Mastercard 4444 — approved"),
    ("pm_card_chargeDeclined", "Declined (generic)"),
    ("pm_card_chargeDeclinedInsufficientFunds", "Declined: insufficient funds"),
    ("pm_card_chargeDeclinedExpiredCard", "Declined: expired card"),
    ("pm_card_chargeDeclinedStolenCard", "Declined: stolen card"),
    ("pm_card_authenticationRequired", "3-D Secure required"),
]
