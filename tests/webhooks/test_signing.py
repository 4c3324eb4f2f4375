"""Our signatures checked by the reference `standardwebhooks` package, and vice versa."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as RefError

from billing.webhooks import signing
from billing.webhooks.signing import WebhookVerificationError

PAYLOAD = json.dumps(
    {"type": "invoice.paid", "data": {"id": "inv_123", "amount": 12990, "note": "pagação ✓"}},
    ensure_ascii=False,
).encode()


def _now() -> int:
    # The reference package checks against the real clock, so ours must too here.
    return int(time.time())


def test_generate_secret_shape() -> None:
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert signing.generate_secret() != secret


def test_reference_package_verifies_our_headers() -> None:
    secret = signing.generate_secret()
    hdrs = signing.headers(secret, "msg_2Lh9", _now(), PAYLOAD)
    assert set(hdrs) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert hdrs["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(PAYLOAD, hdrs) == json.loads(PAYLOAD)


@pytest.mark.parametrize("part", ["payload", "id", "timestamp", "signature"])
def test_reference_package_rejects_tampering(part: str) -> None:
    secret = signing.generate_secret()
    ts = _now()
    hdrs = signing.headers(secret, "msg_1", ts, PAYLOAD)
    body = PAYLOAD
    if part == "payload":
        body = PAYLOAD.replace(b"12990", b"12991")
    elif part == "id":
        hdrs["webhook-id"] = "msg_2"
    elif part == "timestamp":
        hdrs["webhook-timestamp"] = str(ts + 1)
    else:
        sig = base64.b64decode(hdrs["webhook-signature"][3:])
        flipped = bytes([sig[0] ^ 1]) + sig[1:]
        hdrs["webhook-signature"] = "v1," + base64.b64encode(flipped).decode()
    with pytest.raises(RefError):
        Webhook(secret).verify(body, hdrs)


def test_reference_package_rejects_other_secret() -> None:
    hdrs = signing.headers(signing.generate_secret(), "msg_1", _now(), PAYLOAD)
    with pytest.raises(RefError):
        Webhook(signing.generate_secret()).verify(PAYLOAD, hdrs)


def test_rotation_headers_accepted_with_either_secret() -> None:
    old, new = signing.generate_secret(), signing.generate_secret()
    hdrs = signing.headers([old, new], "msg_rot", _now(), PAYLOAD)
    assert len(hdrs["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(PAYLOAD, hdrs)
    Webhook(new).verify(PAYLOAD, hdrs)


def test_our_verify_accepts_reference_signatures() -> None:
    secret = signing.generate_secret()
    ts = _now()
    ref_sig = Webhook(secret).sign("msg_ref", datetime.fromtimestamp(ts, tz=UTC), PAYLOAD.decode())
    hdrs = {"Webhook-Id": "msg_ref", "Webhook-Timestamp": str(ts), "Webhook-Signature": ref_sig}
    signing.verify(secret, PAYLOAD, hdrs, now=ts)
    assert ref_sig == signing.sign(secret, "msg_ref", ts, PAYLOAD)


def test_our_verify_rotation_and_unknown_versions() -> None:
    old, new = signing.generate_secret(), signing.generate_secret()
    ts = 1_800_000_000
    new_sig = signing.sign(new, "msg_1", ts, PAYLOAD)
    hdrs = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(ts),
        # A future scheme and a garbage entry must not stop the v1 match.
        "webhook-signature": f"v1a,abc v1,@@notbase64 {new_sig}",
    }
    signing.verify([old, new], PAYLOAD, hdrs, now=ts)
    with pytest.raises(WebhookVerificationError, match="no matching"):
        signing.verify(old, PAYLOAD, hdrs, now=ts)


def test_our_verify_rejects_tampering_and_staleness() -> None:
    secret = signing.generate_secret()
    ts = 1_800_000_000
    hdrs = signing.headers(secret, "msg_1", ts, PAYLOAD)
    signing.verify(secret, PAYLOAD, hdrs, now=ts + 300)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        signing.verify(secret, PAYLOAD, hdrs, now=ts + 301)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        signing.verify(secret, PAYLOAD, hdrs, now=ts - 301)
    signing.verify(secret, PAYLOAD, hdrs, now=ts + 3600, tolerance=3600)
    with pytest.raises(WebhookVerificationError, match="no matching"):
        signing.verify(secret, PAYLOAD + b" ", hdrs, now=ts)
    with pytest.raises(WebhookVerificationError, match="missing"):
        signing.verify(secret, PAYLOAD, {"webhook-id": "msg_1"}, now=ts)
    bad_ts = {**hdrs, "webhook-timestamp": "soon"}
    with pytest.raises(WebhookVerificationError, match="integer"):
        signing.verify(secret, PAYLOAD, bad_ts, now=ts)


def test_known_vector() -> None:
    # Vector from the Standard Webhooks spec's reference test suite.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    sig = signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_bad_secret_rejected() -> None:
    with pytest.raises(ValueError):
        signing.sign("whsec_", "m", 1, b"{}")
    with pytest.raises(ValueError):
        signing.sign("whsec_not*base64", "m", 1, b"{}")
