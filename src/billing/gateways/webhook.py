"""Stripe-style webhook signatures (``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``).

Implemented here rather than delegated to the SDK so the sandbox and the Stripe adapter
share one audited check, and so ``now`` comes from our injectable clock (the simulated
clock of the sandbox would otherwise make every event look stale).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from billing.gateways.port import InvalidSignature

SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_header(payload: bytes, secrets: str | Iterable[str], timestamp: int) -> str:
    """Build a header value; several secrets give several v1 values (rotation)."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    parts = [f"t={timestamp}"] + [f"v1={compute_signature(payload, k, timestamp)}" for k in keys]
    return ",".join(parts)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # HTTP header names are case-insensitive; frameworks differ in how they store them.
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_signature(
    *,
    payload: bytes,
    header: str | None,
    secrets: str | Iterable[str],
    now: datetime,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Raise ``InvalidSignature`` unless some v1 value matches some secret within tolerance.

    Several secrets are accepted on our side too, so a merchant can roll the endpoint
    secret without a window where valid events are rejected.
    """
    if not header:
        raise InvalidSignature("missing signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise InvalidSignature("malformed timestamp") from exc
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise InvalidSignature("no timestamp in signature header")
    if not candidates:
        raise InvalidSignature("no v1 signature in header")
    # Both directions: a far-future timestamp is as suspicious as a replayed old one.
    if abs(now.timestamp() - timestamp) > tolerance:
        raise InvalidSignature("timestamp outside the tolerance zone")
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    for key in keys:
        expected = compute_signature(payload, key, timestamp)
        # Compare against every candidate without short-circuiting on content.
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return
    raise InvalidSignature("no signature matches the expected signature")


def verify_event(
    *,
    payload: bytes,
    headers: Mapping[str, str],
    secret: str | Iterable[str],
    now: datetime,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> dict[str, Any]:
    """Verify and parse a webhook body; the parsed JSON object is returned."""
    verify_signature(
        payload=payload,
        header=_header(headers, SIGNATURE_HEADER),
        secrets=secret,
        now=now,
        tolerance=tolerance,
    )
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSignature("signed payload is not JSON") from exc
    if not isinstance(event, dict):
        raise InvalidSignature("signed payload is not a JSON object")
    return event
