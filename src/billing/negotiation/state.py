"""Agreement statuses (invariant 5). An agreement is made ``active`` at once: the portal and
the API show the exact schedule (``quote``) before the payer or merchant confirms, so no
stored ``proposed`` state is needed."""

from billing.kit.state import TransitionTable

AGREEMENT = TransitionTable(
    "agreement",
    {
        "active": {"completed", "broken", "canceled"},
        "completed": set(),
        "broken": set(),
        "canceled": set(),
    },
)
