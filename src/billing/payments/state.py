"""Payment attempt statuses: an attempt is created ``processing`` before the gateway call."""

from billing.kit.state import TransitionTable

ATTEMPT = TransitionTable(
    "payment attempt",
    {
        "processing": {"succeeded", "failed", "requires_action"},
        "requires_action": {"succeeded", "failed"},
        "succeeded": set(),
        "failed": set(),
    },
)
