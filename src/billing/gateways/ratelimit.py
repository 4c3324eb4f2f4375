"""Async token bucket: at most ``rate`` calls per second per gateway account."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()
        self.acquired = 0  # calls let through, for metrics and tests

    async def acquire(self) -> None:
        # The lock makes waiters queue in order instead of all waking on the same token.
        async with self._lock:
            while True:
                now = self._clock()
                elapsed = max(0.0, now - self._updated)
                self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    self.acquired += 1
                    return
                await self._sleep((1 - self._tokens) / self.rate)


_BUCKETS: dict[tuple[str, float], TokenBucket] = {}


def bucket_for_account(secret_key: str, rate: float) -> TokenBucket:
    """One bucket per (account key, rate) in this process, shared by all gateway objects.

    Keyed by a hash so the secret itself is not kept as a dictionary key.
    """
    account = hashlib.sha256(secret_key.encode()).hexdigest()[:32]
    bucket = _BUCKETS.get((account, rate))
    if bucket is None:
        bucket = _BUCKETS[(account, rate)] = TokenBucket(rate)
    return bucket
