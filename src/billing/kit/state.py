"""Status machines as explicit transition tables (invariant 5)."""

from __future__ import annotations

from collections.abc import Mapping

from billing.kit.errors import InvalidStateTransition


class TransitionTable:
    def __init__(self, name: str, moves: Mapping[str, frozenset[str] | set[str]]) -> None:
        self.name = name
        self.moves = {k: frozenset(v) for k, v in moves.items()}
        unknown = {t for v in self.moves.values() for t in v} - set(self.moves)
        if unknown:
            raise ValueError(f"{name}: targets without a row: {sorted(unknown)}")

    @property
    def states(self) -> frozenset[str]:
        return frozenset(self.moves)

    def can(self, current: str, target: str) -> bool:
        return target in self.moves.get(current, frozenset())

    def check(self, current: str, target: str) -> str:
        """Returns ``target`` if the move is legal, else raises ``invalid_state_transition``."""
        if not self.can(current, target):
            raise InvalidStateTransition(
                f"A {self.name} cannot go from '{current}' to '{target}'.",
                extra={"current_status": current, "requested_status": target},
            )
        return target

    def sources_of(self, target: str) -> frozenset[str]:
        """The statuses a set-based UPDATE may move from (use in its WHERE clause)."""
        return frozenset(s for s, targets in self.moves.items() if target in targets)
