"""Prefixed, time-ordered ids (``cus_01J…``): sortable, so cursor pagination follows creation."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0

PREFIXES = {
    "merchant": "mer",
    "api_key": "key",
    "plan": "plan",
    "customer": "cus",
    "payment_method": "pm",
    "subscription": "sub",
    "invoice": "inv",
    "payment": "pay",
    "agreement": "agr",
    "webhook_endpoint": "we",
    "event": "evt",
    "portal_session": "ps",
}


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A ULID-like id: 48 bits of wall-clock milliseconds then 80 monotonic random bits."""
    global _last_ms, _last_rand
    with _lock:
        ms = int(time.time() * 1000)
        if ms <= _last_ms:
            ms = _last_ms
            _last_rand += 1
        else:
            _last_ms = ms
            _last_rand = int.from_bytes(os.urandom(10), "big") >> 1
        rand = _last_rand
    return f"{prefix}_{_encode(ms, 10)}{_encode(rand, 16)}"
