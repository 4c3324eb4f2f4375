"""The Stripe adapter against localstripe, through the official SDK."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import stripe
from tests.fixtures_stripe import card_at_stripe

from billing.gateways import (
    ChargeRequest,
    Gateway,
    InvalidRequest,
    PaymentMethodDeclined,
    make_gateway,
)
from billing.gateways.ratelimit import TokenBucket
from billing.gateways.stripe_gateway import StripeGateway

# stripe's HTTPXClient passes raw bytes as data=, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")


@pytest.fixture
async def gw(localstripe_url: str) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(f"sk_test_{uuid.uuid4().hex}", localstripe_url, rate_per_second=1000)
    yield gateway
    await gateway.aclose()


@pytest.fixture
async def sdk(localstripe_url: str) -> AsyncIterator[stripe.StripeClient]:
    http = stripe.HTTPXClient()
    yield stripe.StripeClient(
        "sk_test_x", base_addresses={"api": localstripe_url}, http_client=http
    )
    await http.close_async()


async def _customer(gw: StripeGateway) -> str:
    return await gw.ensure_customer(
        merchant_id="m_1",
        customer_id=uuid.uuid4().hex,
        email=f"{uuid.uuid4().hex}@x.test",
        name="Ana",
    )


def _req(customer: str, pm: str, key: str, amount: int = 4990) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=key,
        amount=amount,
        currency="BRL",
        gateway_customer=customer,
        payment_method=pm,
        description="Plano mensal",
        metadata={"invoice_id": "inv_1"},
    )


async def test_factory_and_port(localstripe_url: str) -> None:
    gateway = make_gateway("stripe", secret_key="sk_test_f", api_base=localstripe_url)
    assert isinstance(gateway, StripeGateway) and isinstance(gateway, Gateway)
    await gateway.aclose()
    with pytest.raises(ValueError):
        make_gateway("stripe")


async def test_ensure_customer_is_idempotent(gw: StripeGateway) -> None:
    first = await gw.ensure_customer(
        merchant_id="m", customer_id="c-1", email="c1@x.test", name="C"
    )
    again = await gw.ensure_customer(
        merchant_id="m", customer_id="c-1", email="c1@x.test", name="C"
    )
    other = await gw.ensure_customer(
        merchant_id="m", customer_id="c-2", email="c1@x.test", name="C"
    )
    assert first == again and first.startswith("cus_") and other != first


async def test_successful_charge_and_recovery(gw: StripeGateway, sdk: stripe.StripeClient) -> None:
    cus = await _customer(gw)
    info = await gw.attach_payment_method(
        gateway_customer=cus, token=await card_at_stripe(sdk, "4242424242424242")
    )
    assert (info.type, info.brand, info.last4, info.exp_month, info.exp_year) == (
        "card",
        "visa",
        "4242",
        12,
        2030,
    )
    key = f"att_{uuid.uuid4().hex}"
    assert await gw.find_charge(idempotency_key=key, gateway_customer=cus) is None
    result = await gw.charge(request=_req(cus, info.gateway_ref, key))
    assert result.status == "succeeded" and result.gateway_ref
    assert (result.amount, result.currency) == (4990, "BRL")
    # Recovery path: after a crash the caller asks with the same key.
    found = await gw.find_charge(idempotency_key=key, gateway_customer=cus)
    assert found == result
    intent = await sdk.v1.payment_intents.retrieve_async(result.gateway_ref)
    assert intent.metadata["billing_attempt_key"] == key
    assert intent.metadata["invoice_id"] == "inv_1"


async def test_card_341_attaches_then_declines(gw: StripeGateway, sdk: stripe.StripeClient) -> None:
    cus = await _customer(gw)
    info = await gw.attach_payment_method(
        gateway_customer=cus, token=await card_at_stripe(sdk, "4000000000000341")
    )
    key = f"att_{uuid.uuid4().hex}"
    result = await gw.charge(request=_req(cus, info.gateway_ref, key))
    # localstripe answers 402 card_declined without an issuer decline_code (real Stripe
    # adds decline_code=generic_decline): both classify soft.
    assert (result.status, result.failure_code, result.decline_type) == (
        "failed",
        "card_declined",
        "soft",
    )
    assert result.gateway_ref and result.gateway_ref.startswith("pi_")
    found = await gw.find_charge(idempotency_key=key, gateway_customer=cus)
    assert (
        found is not None and found.status == "failed" and found.gateway_ref == (result.gateway_ref)
    )


async def test_card_0002_declines_at_attach(gw: StripeGateway, sdk: stripe.StripeClient) -> None:
    cus = await _customer(gw)
    with pytest.raises(PaymentMethodDeclined) as err:
        await gw.attach_payment_method(
            gateway_customer=cus, token=await card_at_stripe(sdk, "4000000000000002")
        )
    assert err.value.code == "card_declined" and err.value.decline_type == "soft"


async def test_3ds_required(gw: StripeGateway, sdk: stripe.StripeClient) -> None:
    cus = await _customer(gw)
    info = await gw.attach_payment_method(
        gateway_customer=cus, token=await card_at_stripe(sdk, "4000002500003155")
    )
    result = await gw.charge(request=_req(cus, info.gateway_ref, f"att_{uuid.uuid4().hex}"))
    assert result.status == "requires_action"
    assert result.decline_type == "authentication_required" and result.gateway_ref


async def test_refund(gw: StripeGateway, sdk: stripe.StripeClient) -> None:
    cus = await _customer(gw)
    info = await gw.attach_payment_method(
        gateway_customer=cus, token=await card_at_stripe(sdk, "4242424242424242")
    )
    paid = await gw.charge(
        request=_req(cus, info.gateway_ref, f"att_{uuid.uuid4().hex}", amount=1000)
    )
    assert paid.gateway_ref
    part = await gw.refund(gateway_ref=paid.gateway_ref, amount=300, idempotency_key="rf-1")
    assert part.status == "succeeded" and part.gateway_ref.startswith("re_")
    refund = await sdk.v1.refunds.retrieve_async(part.gateway_ref)
    assert refund.amount == 300
    assert refund.to_dict()["metadata"]["billing_refund_key"] == "rf-1"
    declined_pm = await gw.attach_payment_method(
        gateway_customer=cus, token=await card_at_stripe(sdk, "4000000000000341")
    )
    failed = await gw.charge(request=_req(cus, declined_pm.gateway_ref, f"att_{uuid.uuid4().hex}"))
    assert failed.gateway_ref
    with pytest.raises(InvalidRequest):
        await gw.refund(gateway_ref=failed.gateway_ref, amount=None, idempotency_key="rf-2")


async def test_method_change_and_detach(gw: StripeGateway, sdk: stripe.StripeClient) -> None:
    cus = await _customer(gw)
    flow = await gw.start_method_change(gateway_customer=cus, return_url="https://x.test/r")
    assert flow.setup_ref.startswith("seti_") and flow.client_secret and flow.url is None
    si = await sdk.v1.setup_intents.retrieve_async(flow.setup_ref)
    assert si.customer == cus and si.usage == "off_session"
    state = await gw.retrieve_method_change(flow.setup_ref)
    assert (state.gateway_customer, state.status, state.payment_method) == (
        cus,
        "requires_payment_method",
        None,
    )
    assert state.client_secret == flow.client_secret
    with pytest.raises(InvalidRequest):
        await gw.retrieve_method_change("seti_doesnotexist")
    with pytest.raises(InvalidRequest):
        await gw.retrieve_method_change("pm_card_visa")  # not a SetupIntent id at all
    info = await gw.attach_payment_method(
        gateway_customer=cus, token=await card_at_stripe(sdk, "4242424242424242")
    )
    await gw.detach_payment_method(info.gateway_ref)
    pm = await sdk.v1.payment_methods.retrieve_async(info.gateway_ref)
    assert pm.customer is None


async def test_pix_is_refused_by_localstripe(gw: StripeGateway) -> None:
    # localstripe has no Pix/boleto PaymentIntents: the adapter surfaces a clean error.
    cus = await _customer(gw)
    with pytest.raises(InvalidRequest):
        await gw.create_pix(_req(cus, "", f"att_{uuid.uuid4().hex}"))


async def test_rate_limiter_counts_every_call(
    localstripe_url: str, sdk: stripe.StripeClient
) -> None:
    bucket = TokenBucket(rate=20, burst=1)
    gateway = StripeGateway("sk_test_rl", localstripe_url, limiter=bucket)
    try:
        import time

        start = time.monotonic()
        cus = await _customer(gateway)  # list + create = 2 calls
        for i in range(4):
            await gateway.find_charge(idempotency_key=f"k{i}", gateway_customer=cus)
        elapsed = time.monotonic() - start
    finally:
        await gateway.aclose()
    # 2 + 4 list calls (+1 the first time localstripe refuses the customer filter).
    assert bucket.acquired in (6, 7)
    assert elapsed >= (bucket.acquired - 1) / 20 * 0.8  # loose: spacing did happen
