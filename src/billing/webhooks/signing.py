"""Standard Webhooks signatures for the webhooks we send to merchants.

Spec: https://www.standardwebhooks.com — the signed content is
``f"{msg_id}.{timestamp}.{payload}"``, HMAC-SHA256 with the base64-decoded secret,
sent as ``v1,<base64>``; several space-separated signatures let a receiver accept
both the old and the new secret while a merchant rotates it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SECRET_PREFIX",
    "WebhookVerificationError",
    "generate_secret",
    "headers",
    "sign",
    "verify",
]

SECRET_PREFIX = "whsec_"
# The spec's (and the reference libraries') replay window.
DEFAULT_TOLERANCE_SECONDS = 5 * 60
_SECRET_BYTES = 24


class WebhookVerificationError(ValueError):
    """The headers are missing, stale or carry no signature matching any secret."""


def generate_secret() -> str:
    """A new endpoint secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        # Unpadded secrets from other tools are accepted: extra padding is ignored.
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, payload: bytes) -> bytes:
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + payload
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``msg_id.timestamp.payload``."""
    digest = _digest(_key(secret), msg_id, timestamp, payload)
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(
    secret: str | Iterable[str], msg_id: str, timestamp: int, payload: bytes
) -> dict[str, str]:
    """The three delivery headers; pass several secrets during a rotation."""
    all_secrets = [secret] if isinstance(secret, str) else list(secret)
    if not all_secrets:
        raise ValueError("at least one secret is needed")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, payload) for s in all_secrets),
    }


def verify(
    secret: str | Iterable[str],
    payload: bytes,
    received: Mapping[str, str],
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Check a delivery against one or more secrets; raise on any failure.

    ``now`` is a Unix time passed in (the caller's clock), so tests and the
    simulated clock decide what "stale" means.
    """
    lowered = {k.lower(): v for k, v in received.items()}
    msg_id = lowered.get("webhook-id")
    ts_text = lowered.get("webhook-timestamp")
    sig_text = lowered.get("webhook-signature")
    if not (msg_id and ts_text and sig_text):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(ts_text)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance window")

    candidates: list[bytes] = []
    for item in sig_text.split():
        version, _, encoded = item.partition(",")
        if version != "v1":
            continue  # unknown schemes (e.g. future v1a) are skipped, not fatal
        try:
            candidates.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    keys = [_key(secret)] if isinstance(secret, str) else [_key(s) for s in secret]
    for key in keys:
        expected = _digest(key, msg_id, timestamp, payload)
        # Constant-time comparison: timing must not reveal how much of a guess matched.
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return
    raise WebhookVerificationError("no matching signature")
