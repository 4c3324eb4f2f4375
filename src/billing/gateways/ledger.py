"""Where the sandbox gateway keeps its state.

Deliberately tiny (get / put / incr by string key, JSON objects as values) so a
database-backed ledger is a single table of (key, json) plus atomic counters.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Protocol, runtime_checkable

JSONObject = dict[str, Any]


@runtime_checkable
class SandboxLedger(Protocol):
    async def get(self, key: str) -> JSONObject | None:
        """The object stored under ``key``, or None."""
        ...

    async def put(self, key: str, value: JSONObject) -> None:
        """Store (insert or replace) a JSON-serialisable object."""
        ...

    async def incr(self, key: str, by: int = 1) -> int:
        """Atomically add ``by`` to the counter ``key`` (missing = 0); return the new value."""
        ...


class MemoryLedger:
    """In-process ledger; values round-trip through JSON so nothing non-portable slips in."""

    def __init__(self) -> None:
        self._objects: dict[str, str] = {}
        self._counters: dict[str, int] = {}

    async def get(self, key: str) -> JSONObject | None:
        raw = self._objects.get(key)
        return None if raw is None else copy.deepcopy(json.loads(raw))

    async def put(self, key: str, value: JSONObject) -> None:
        self._objects[key] = json.dumps(value, sort_keys=True)

    async def incr(self, key: str, by: int = 1) -> int:
        # No await between read and write: atomic on one event loop.
        value = self._counters.get(key, 0) + by
        self._counters[key] = value
        return value
