from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import stripe

from billing.gateways import InvalidSignature
from billing.gateways.sandbox import SandboxGateway
from billing.gateways.webhook import sign_header, verify_event

SECRET = "whsec_test_secret"
PAYLOAD = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"}).encode()


def _now(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_valid_signature_returns_the_event() -> None:
    ts = 1_760_000_000
    headers = {"Stripe-Signature": sign_header(PAYLOAD, SECRET, ts)}
    assert (
        verify_event(payload=PAYLOAD, headers=headers, secret=SECRET, now=_now(ts + 10))["id"]
        == "evt_1"
    )
    # Header names are case-insensitive.
    lower = {"stripe-signature": headers["Stripe-Signature"]}
    assert verify_event(payload=PAYLOAD, headers=lower, secret=SECRET, now=_now(ts))


@pytest.mark.parametrize(
    ("payload", "headers", "secret", "delta"),
    [
        (PAYLOAD.replace(b"evt_1", b"evt_2"), None, SECRET, 0),  # tampered body
        (PAYLOAD, {}, SECRET, 0),  # missing header
        (PAYLOAD, None, SECRET, 301),  # stale
        (PAYLOAD, None, SECRET, -301),  # from the future
        (PAYLOAD, None, "whsec_other", 0),  # wrong secret
        (PAYLOAD, {"Stripe-Signature": "t=1760000000"}, SECRET, 0),  # no v1
        (PAYLOAD, {"Stripe-Signature": "v1=abc"}, SECRET, 0),  # no t
    ],
)
def test_rejections(
    payload: bytes, headers: dict[str, str] | None, secret: str, delta: int
) -> None:
    ts = 1_760_000_000
    if headers is None:
        headers = {"Stripe-Signature": sign_header(PAYLOAD, SECRET, ts)}
    with pytest.raises(InvalidSignature):
        verify_event(payload=payload, headers=headers, secret=secret, now=_now(ts + delta))


def test_rotation_two_v1_values() -> None:
    ts = 1_760_000_000
    header = sign_header(PAYLOAD, ["whsec_old", "whsec_new"], ts)
    assert header.count("v1=") == 2
    for secret in ("whsec_old", "whsec_new"):
        verify_event(
            payload=PAYLOAD, headers={"Stripe-Signature": header}, secret=secret, now=_now(ts)
        )
    with pytest.raises(InvalidSignature):
        verify_event(
            payload=PAYLOAD,
            headers={"Stripe-Signature": header},
            secret="whsec_third",
            now=_now(ts),
        )
    # Our side may hold two secrets too, during the roll.
    single = sign_header(PAYLOAD, "whsec_new", ts)
    verify_event(
        payload=PAYLOAD,
        headers={"Stripe-Signature": single},
        secret=["whsec_old", "whsec_new"],
        now=_now(ts),
    )


def test_cross_check_with_the_stripe_sdk() -> None:
    ts = int(time.time())
    ours = sign_header(PAYLOAD, SECRET, ts)
    # Stripe's verifier accepts what we sign...
    assert stripe.WebhookSignature.verify_header(PAYLOAD.decode(), ours, SECRET, 300)
    event = stripe.Webhook.construct_event(PAYLOAD.decode(), ours, SECRET)
    assert event["id"] == "evt_1"
    # ...we accept what Stripe's algorithm signs...
    mac = stripe.WebhookSignature._compute_signature(f"{ts}.{PAYLOAD.decode()}", SECRET)
    theirs = f"t={ts},v1={mac}"
    verify_event(payload=PAYLOAD, headers={"Stripe-Signature": theirs}, secret=SECRET, now=_now(ts))
    # ...and both reject the same stale header.
    stale = sign_header(PAYLOAD, SECRET, ts - 600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(PAYLOAD.decode(), stale, SECRET, 300)
    with pytest.raises(InvalidSignature):
        verify_event(
            payload=PAYLOAD, headers={"Stripe-Signature": stale}, secret=SECRET, now=_now(ts)
        )


async def test_gateway_method_uses_the_same_check() -> None:
    ts = 1_760_000_000
    gw = SandboxGateway()
    headers = {"Stripe-Signature": sign_header(PAYLOAD, SECRET, ts)}
    event = await gw.verify_webhook(payload=PAYLOAD, headers=headers, secret=SECRET, now=_now(ts))
    assert event["type"] == "payment_intent.succeeded"
    with pytest.raises(InvalidSignature):
        await gw.verify_webhook(payload=b"{}", headers=headers, secret=SECRET, now=_now(ts))
