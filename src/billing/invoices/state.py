"""Invoice statuses and the moves between them."""

from billing.kit.state import TransitionTable

INVOICE = TransitionTable(
    "invoice",
    {
        "draft": {"open", "void"},
        "open": {"paid", "void", "uncollectible", "renegotiated"},
        "uncollectible": {"paid", "void", "renegotiated"},
        "paid": set(),
        "void": set(),
        # Consolidated into an agreement (negotiation/): still a real debt, unlike ``void``
        # (issued in error), so reports can tell them apart. A broken or canceled agreement
        # restores it: back to open, or paid when the agreement's payments covered it.
        "renegotiated": {"open", "paid"},
    },
)

# Money may still come in for these.
COLLECTIBLE = frozenset({"open", "uncollectible"})
