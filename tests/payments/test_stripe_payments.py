"""The whole payments service on the Stripe adapter, against localstripe via the SDK."""

from __future__ import annotations

import uuid

import httpx
import pytest
import stripe

from billing.payments.refunds import refund_payment
from billing.runtime import Runtime
from tests.conftest import MerchantAccount, new_merchant
from tests.fixtures_stripe import card_at_stripe, stripe_client, stripe_runtime
from tests.payments.helpers import Seeded, attach, invoice_row, payments_of, seed_invoice

__all__ = ["stripe_client", "stripe_runtime"]

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")


@pytest.fixture
async def stripe_merchant(
    stripe_runtime: Runtime, stripe_client: httpx.AsyncClient
) -> MerchantAccount:
    merchant = await new_merchant(stripe_runtime, "Loja Stripe")
    secret = f"sk_test_{uuid.uuid4().hex}"
    response = await stripe_client.put(
        "/v1/settings/gateway",
        json={"provider": "stripe", "secret_key": secret, "webhook_secret": "whsec_x"},
        headers=merchant.headers,
    )
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown == {
        "provider": "stripe",
        "secret_key_set": True,
        "secret_key_last4": secret[-4:],
        "webhook_secret_set": True,
        "publishable_key": None,
    }
    return merchant


async def _card(localstripe_url: str, number: str) -> str:
    # Stripe.js's side in production: our server only ever sees the pm_ id.
    http = stripe.HTTPXClient()
    sdk = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": localstripe_url}, http_client=http
    )
    try:
        return await card_at_stripe(sdk, number)
    finally:
        await http.close_async()


async def test_success_then_refund(
    stripe_runtime: Runtime,
    stripe_client: httpx.AsyncClient,
    stripe_merchant: MerchantAccount,
    localstripe_url: str,
) -> None:
    seeded = await seed_invoice(stripe_runtime, stripe_merchant, subscription_status="past_due")
    token = await _card(localstripe_url, "4242424242424242")
    pm = await attach(stripe_client, stripe_merchant, seeded.customer_id, token)
    assert (pm["brand"], pm["last4"]) == ("visa", "4242")
    url = f"/v1/invoices/{seeded.invoice_id}/pay"
    response = await stripe_client.post(url, headers=stripe_merchant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paid"
    [payment] = await payments_of(stripe_client, stripe_merchant, seeded.invoice_id)
    assert payment["status"] == "succeeded"

    result = await refund_payment(
        stripe_runtime.job_context,
        merchant_id=stripe_merchant.id,
        payment_id=payment["id"],
        amount=1000,
    )
    assert result.status == "succeeded" and result.gateway_ref.startswith("re_")


async def _pay_with_card(
    runtime: Runtime,
    client: httpx.AsyncClient,
    merchant: MerchantAccount,
    localstripe_url: str,
    number: str,
) -> tuple[Seeded, httpx.Response]:
    """A fresh installment paid through the API with a card created at localstripe."""
    seeded = await seed_invoice(runtime, merchant)
    await attach(client, merchant, seeded.customer_id, await _card(localstripe_url, number))
    response = await client.post(f"/v1/invoices/{seeded.invoice_id}/pay", headers=merchant.headers)
    return seeded, response


async def test_decline_341(
    stripe_runtime: Runtime,
    stripe_client: httpx.AsyncClient,
    stripe_merchant: MerchantAccount,
    localstripe_url: str,
) -> None:
    seeded, response = await _pay_with_card(
        stripe_runtime, stripe_client, stripe_merchant, localstripe_url, "4000000000000341"
    )
    assert response.status_code == 402, response.text
    assert response.json()["code"] == "card_declined"
    [payment] = await payments_of(stripe_client, stripe_merchant, seeded.invoice_id)
    assert (payment["status"], payment["decline_type"]) == ("failed", "soft")
    assert (await invoice_row(stripe_runtime, seeded.invoice_id)).attempt_count == 1


async def test_attach_decline(
    stripe_runtime: Runtime,
    stripe_client: httpx.AsyncClient,
    stripe_merchant: MerchantAccount,
    localstripe_url: str,
) -> None:
    seeded = await seed_invoice(stripe_runtime, stripe_merchant)
    token = await _card(localstripe_url, "4000000000000002")
    response = await stripe_client.post(
        f"/v1/customers/{seeded.customer_id}/payment_methods",
        json={"token": token},
        headers=stripe_merchant.headers,
    )
    assert response.status_code == 402, response.text
    problem = response.json()
    assert problem["code"] == "card_declined" and "decline_code" in problem


async def test_three_d_secure_requires_action(
    stripe_runtime: Runtime,
    stripe_client: httpx.AsyncClient,
    stripe_merchant: MerchantAccount,
    localstripe_url: str,
) -> None:
    seeded, response = await _pay_with_card(
        stripe_runtime, stripe_client, stripe_merchant, localstripe_url, "4000002500003155"
    )
    assert response.status_code == 402, response.text
    assert response.json()["decline_type"] == "authentication_required"
    [payment] = await payments_of(stripe_client, stripe_merchant, seeded.invoice_id)
    assert payment["status"] == "requires_action"
    assert payment["decline_type"] == "authentication_required"


async def test_paying_another_way_cancels_the_intent_waiting_for_3ds(
    stripe_runtime: Runtime,
    stripe_client: httpx.AsyncClient,
    stripe_merchant: MerchantAccount,
    localstripe_url: str,
) -> None:
    from billing.models import PaymentAttempt

    seeded, first = await _pay_with_card(
        stripe_runtime, stripe_client, stripe_merchant, localstripe_url, "4000002500003155"
    )
    assert first.status_code == 402
    url = f"/v1/invoices/{seeded.invoice_id}/pay"
    visa = await attach(
        stripe_client,
        stripe_merchant,
        seeded.customer_id,
        await _card(localstripe_url, "4242424242424242"),
    )
    paid = await stripe_client.post(
        url, json={"payment_method_id": visa["id"]}, headers=stripe_merchant.headers
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    old, new = await payments_of(stripe_client, stripe_merchant, seeded.invoice_id)
    assert (old["status"], new["status"]) == ("failed", "succeeded")
    async with stripe_runtime.session_factory() as session:
        row = await session.get(PaymentAttempt, old["id"])
        assert row is not None and row.gateway_ref
    # At the gateway the waiting intent is canceled: the payer can no longer complete it.
    http = stripe.HTTPXClient()
    sdk = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": localstripe_url}, http_client=http
    )
    try:
        intent = await sdk.v1.payment_intents.retrieve_async(row.gateway_ref)
    finally:
        await http.close_async()
    assert intent.status == "canceled"
