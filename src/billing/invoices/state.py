"""Invoice statuses and the moves between them."""

from billing.kit.state import TransitionTable

INVOICE = TransitionTable(
    "invoice",
    {
        "draft": {"open", "void"},
        "open": {"paid", "void", "uncollectible"},
        "uncollectible": {"paid", "void"},
        "paid": set(),
        "void": set(),
    },
)

# Money may still come in for these.
COLLECTIBLE = frozenset({"open", "uncollectible"})
