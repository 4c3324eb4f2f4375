"""Token bucket, and the adapter's 429/5xx handling against a scripted local server."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from billing.gateways import ChargeRequest, GatewayUnavailable
from billing.gateways.ratelimit import TokenBucket, bucket_for_account
from billing.gateways.stripe_gateway import StripeGateway

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_bucket_allows_burst_then_spaces_calls() -> None:
    t = FakeTime()
    bucket = TokenBucket(rate=5, burst=5, clock=t.clock, sleep=t.sleep)
    stamps = []
    for _ in range(10):
        await bucket.acquire()
        stamps.append(t.now)
    assert stamps[:5] == [0.0] * 5
    gaps = [b - a for a, b in itertools.pairwise(stamps[4:])]
    assert all(abs(g - 0.2) < 1e-9 for g in gaps)
    assert bucket.acquired == 10


async def test_bucket_refills_while_idle() -> None:
    t = FakeTime()
    bucket = TokenBucket(rate=2, burst=2, clock=t.clock, sleep=t.sleep)
    for _ in range(2):
        await bucket.acquire()
    t.now += 10  # idle: refills to capacity, never beyond
    for _ in range(2):
        await bucket.acquire()
    assert t.sleeps == []
    await bucket.acquire()
    assert t.sleeps == [pytest.approx(0.5)]


def test_buckets_are_per_account() -> None:
    assert bucket_for_account("sk_a", 25) is bucket_for_account("sk_a", 25)
    assert bucket_for_account("sk_a", 25) is not bucket_for_account("sk_b", 25)
    with pytest.raises(ValueError):
        TokenBucket(0)


Script = Callable[[int], web.Response]


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[str, list[dict[str, str]], list[Script]]]:
    """A local HTTP server answering /v1/payment_intents from a per-test script."""
    seen: list[dict[str, str]] = []
    script: list[Script] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return script[0](len(seen))

    app = web.Application()
    app.router.add_route("*", "/v1/payment_intents", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen, script
    await runner.cleanup()


def _error(status: int) -> web.Response:
    body = {
        "error": {
            "type": "rate_limit_error" if status == 429 else "api_error",
            "message": "slow down" if status == 429 else "boom",
        }
    }
    return web.json_response(body, status=status)


_INTENT = {
    "id": "pi_1",
    "object": "payment_intent",
    "status": "succeeded",
    "amount": 100,
    "currency": "brl",
    "customer": "cus_1",
    "metadata": {},
    "created": 1,
}

_REQ = ChargeRequest(
    idempotency_key="att_42",
    amount=100,
    currency="BRL",
    gateway_customer="cus_1",
    payment_method="pm_1",
)


async def test_429_is_retried_with_the_same_key(
    scripted: tuple[str, list[dict[str, str]], list[Script]],
) -> None:
    url, seen, script = scripted
    script.append(lambda n: _error(429) if n <= 2 else web.json_response(_INTENT))
    gw = StripeGateway("sk_test_429", url, limiter=TokenBucket(1000), backoff_seconds=0.01)
    try:
        result = await gw.charge(request=_REQ)
    finally:
        await gw.aclose()
    assert result.status == "succeeded" and result.gateway_ref == "pi_1"
    assert len(seen) == 3
    assert {h["Idempotency-Key"] for h in seen} == {"att_42"}
    assert json.loads(json.dumps(result.amount)) == 100


async def test_429_retries_are_bounded(
    scripted: tuple[str, list[dict[str, str]], list[Script]],
) -> None:
    url, seen, script = scripted
    script.append(lambda n: _error(429))
    gw = StripeGateway(
        "sk_test_429b",
        url,
        limiter=TokenBucket(1000),
        max_rate_limit_retries=2,
        backoff_seconds=0.01,
    )
    try:
        with pytest.raises(GatewayUnavailable):
            await gw.charge(request=_REQ)
    finally:
        await gw.aclose()
    assert len(seen) == 3  # first try + 2 retries


async def test_5xx_means_unknown_outcome(
    scripted: tuple[str, list[dict[str, str]], list[Script]],
) -> None:
    url, seen, script = scripted
    script.append(lambda n: _error(500))
    gw = StripeGateway("sk_test_500", url, limiter=TokenBucket(1000))
    try:
        with pytest.raises(GatewayUnavailable):
            await gw.charge(request=_REQ)
    finally:
        await gw.aclose()
    assert len(seen) == 1  # not retried: the caller recovers with find_charge


async def test_connection_refused_is_unavailable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = StripeGateway("sk_test_down", f"http://127.0.0.1:{port}", limiter=TokenBucket(1000))
    try:
        with pytest.raises(GatewayUnavailable):
            await gw.charge(request=_REQ)
    finally:
        await gw.aclose()
