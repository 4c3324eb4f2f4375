"""Subscription statuses and the moves between them."""

from billing.kit.state import TransitionTable

SUBSCRIPTION = TransitionTable(
    "subscription",
    {
        "trialing": {"active", "past_due", "canceled", "paused"},
        "active": {"past_due", "canceled", "paused"},
        "past_due": {"active", "unpaid", "canceled", "paused"},
        "unpaid": {"active", "canceled"},
        "paused": {"active", "canceled"},
        "canceled": set(),
    },
)

# Statuses whose periods keep renewing (the billing run's WHERE clause).
RENEWING = frozenset({"trialing", "active", "past_due"})
