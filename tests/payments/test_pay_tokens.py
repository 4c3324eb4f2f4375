"""Every sandbox test token through POST /v1/invoices/{id}/pay and GET /v1/payments."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from billing.runtime import Runtime
from tests.conftest import MerchantAccount
from tests.payments.helpers import (
    attach,
    invoice_row,
    payments_of,
    sandbox_captures_for,
    sandbox_charges_for,
    seed_invoice,
    subscription_status,
)

DECLINES = [
    ("pm_card_chargeDeclined", "card_declined", "generic_decline", "soft"),
    ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds", "soft"),
    ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error", "soft"),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card", "hard"),
    ("pm_card_chargeDeclinedLostCard", "card_declined", "lost_card", "hard"),
    ("pm_card_chargeDeclinedStolenCard", "card_declined", "stolen_card", "hard"),
    ("pm_card_chargeDeclinedFraudulent", "card_declined", "fraudulent", "hard"),
]


async def test_visa_pays_the_invoice(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    seeded = await seed_invoice(runtime, merchant, subscription_status="past_due")
    pm = await attach(client, merchant, seeded.customer_id, "pm_card_visa")
    assert (pm["type"], pm["brand"], pm["last4"], pm["is_default"]) == (
        "card",
        "visa",
        "4242",
        True,
    )

    response = await client.post(f"/v1/invoices/{seeded.invoice_id}/pay", headers=merchant.headers)
    assert response.status_code == 200, response.text
    invoice = response.json()
    assert invoice["status"] == "paid"
    assert invoice["amount_paid"] == 4990 and invoice["amount_due"] == 0
    assert invoice["paid_at"] is not None
    [payment] = await payments_of(client, merchant, seeded.invoice_id)
    assert payment["status"] == "succeeded"
    assert (payment["amount"], payment["currency"]) == (4990, "BRL")
    assert payment["failure_code"] is None and payment["decline_type"] is None
    assert await subscription_status(runtime, seeded.subscription_id) == "active"
    # Paying again charges nothing.
    again = await client.post(f"/v1/invoices/{seeded.invoice_id}/pay", headers=merchant.headers)
    assert again.status_code == 409 and again.json()["code"] == "invoice_paid"
    assert await sandbox_charges_for(runtime, seeded.invoice_id) == 1
    events = (await client.get("/v1/events", headers=merchant.headers)).json()["data"]
    types = {e["type"] for e in events}
    assert {"invoice.paid", "subscription.active"} <= types


@pytest.mark.parametrize(("token", "failure_code", "decline_code", "decline_type"), DECLINES)
async def test_declines_are_402_and_recorded(
    client: AsyncClient,
    runtime: Runtime,
    merchant: MerchantAccount,
    token: str,
    failure_code: str,
    decline_code: str,
    decline_type: str,
) -> None:
    seeded = await seed_invoice(runtime, merchant)
    pm = await attach(client, merchant, seeded.customer_id, token)
    response = await client.post(f"/v1/invoices/{seeded.invoice_id}/pay", headers=merchant.headers)
    assert response.status_code == 402, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "card_declined"
    assert problem["decline_code"] == decline_code
    [payment] = await payments_of(client, merchant, seeded.invoice_id)
    assert payment["status"] == "failed"
    assert payment["failure_code"] == failure_code
    assert payment["decline_type"] == decline_type
    invoice = await invoice_row(runtime, seeded.invoice_id)
    assert invoice.status == "open" and invoice.attempt_count == 1
    # Soft declines are retried on the schedule; hard ones wait for a new method.
    assert (invoice.next_payment_attempt is not None) == (decline_type == "soft")
    assert await subscription_status(runtime, seeded.subscription_id) == "past_due"
    methods = (
        await client.get(
            f"/v1/customers/{seeded.customer_id}/payment_methods", headers=merchant.headers
        )
    ).json()["data"]
    [method] = [m for m in methods if m["id"] == pm["id"]]
    assert (method["disabled_reason"] is not None) == (decline_type == "hard")


async def test_authentication_required(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    seeded = await seed_invoice(runtime, merchant)
    await attach(client, merchant, seeded.customer_id, "pm_card_authenticationRequired")
    response = await client.post(f"/v1/invoices/{seeded.invoice_id}/pay", headers=merchant.headers)
    assert response.status_code == 402
    problem = response.json()
    assert problem["code"] == "card_declined"
    assert problem["decline_code"] == "authentication_required"
    assert problem["next_action_url"]
    [payment] = await payments_of(client, merchant, seeded.invoice_id)
    assert payment["status"] == "requires_action"
    assert payment["decline_type"] == "authentication_required"
    assert payment["next_action_url"]


async def test_insufficient_funds_twice_then_succeeds(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    seeded = await seed_invoice(runtime, merchant)
    await attach(client, merchant, seeded.customer_id, "pm_card_insufficientFundsTimes2")
    url = f"/v1/invoices/{seeded.invoice_id}/pay"
    codes = [(await client.post(url, headers=merchant.headers)).status_code for _ in range(3)]
    assert codes == [402, 402, 200]
    statuses = [p["status"] for p in await payments_of(client, merchant, seeded.invoice_id)]
    assert statuses == ["failed", "failed", "succeeded"]
    invoice = await invoice_row(runtime, seeded.invoice_id)
    assert invoice.status == "paid" and invoice.attempt_count == 2
    assert await subscription_status(runtime, seeded.subscription_id) == "active"


@pytest.mark.parametrize("token", ["pix", "boleto"])
async def test_pix_and_boleto_stay_pending_until_simulated(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount, token: str
) -> None:
    seeded = await seed_invoice(runtime, merchant)
    pm = await attach(client, merchant, seeded.customer_id, token)
    assert pm["type"] == token and pm["last4"] is None
    response = await client.post(f"/v1/invoices/{seeded.invoice_id}/pay", headers=merchant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "open"
    [payment] = await payments_of(client, merchant, seeded.invoice_id)
    assert payment["status"] == "processing"
    if token == "pix":
        assert payment["pix"]["copy_paste"].startswith("000201")
    else:
        assert len(payment["boleto"]["typeable_line"]) == 47
    again = await client.post(f"/v1/invoices/{seeded.invoice_id}/pay", headers=merchant.headers)
    if token == "boleto":
        # A boleto may be paid at a bank already and clear days later: a second payment
        # now could be a second payment of the debt.
        assert again.status_code == 409 and again.json()["code"] == "payment_in_progress"
    else:
        # An unpaid Pix code is closed at the gateway and a new one issued in its place.
        assert again.status_code == 200, again.text
        old, payment = await payments_of(client, merchant, seeded.invoice_id)
        assert (old["status"], old["failure_code"]) == ("failed", "replaced")
        assert payment["status"] == "processing"

    url = f"/v1/test_helpers/invoices/{seeded.invoice_id}/simulate_payment"
    paid = await client.post(url, headers=merchant.headers)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    assert (await payments_of(client, merchant, seeded.invoice_id))[-1]["status"] == "succeeded"
    assert await sandbox_captures_for(runtime, seeded.invoice_id) == 1
    # Nothing pending any more.
    assert (await client.post(url, headers=merchant.headers)).status_code == 404


async def test_a_card_replaces_an_unpaid_pix_code(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    """The payer asked for a Pix code, then pays by card instead: the code is closed at the
    gateway first (it can no longer be paid), the card is charged once, and the closed code
    is no failed payment of the payer's (no count, no event, no dunning)."""
    seeded = await seed_invoice(runtime, merchant)
    pix = await attach(client, merchant, seeded.customer_id, "pix", set_default=False)
    card = await attach(client, merchant, seeded.customer_id, "pm_card_visa", set_default=False)
    url = f"/v1/invoices/{seeded.invoice_id}/pay"
    pending = await client.post(
        url, json={"payment_method_id": pix["id"]}, headers=merchant.headers
    )
    assert pending.status_code == 200 and pending.json()["status"] == "open"
    paid = await client.post(url, json={"payment_method_id": card["id"]}, headers=merchant.headers)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    closed, charged = await payments_of(client, merchant, seeded.invoice_id)
    assert (closed["status"], closed["failure_code"]) == ("failed", "replaced")
    assert charged["status"] == "succeeded"
    assert await sandbox_captures_for(runtime, seeded.invoice_id) == 1
    # The old code cannot be paid any more at the gateway.
    simulate = f"/v1/test_helpers/invoices/{seeded.invoice_id}/simulate_payment"
    assert (await client.post(simulate, headers=merchant.headers)).status_code == 404
    invoice = await invoice_row(runtime, seeded.invoice_id)
    assert invoice.attempt_count == 0
    events = await client.get("/v1/events", headers=merchant.headers)
    assert "invoice.payment_failed" not in {e["type"] for e in events.json()["data"]}


async def test_a_pix_paid_meanwhile_is_recorded_and_the_card_not_charged(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    """The payer paid the Pix code a moment ago, before its webhook reached us, and now
    presses "pay by card": the gateway says the code was paid, so that is recorded, the
    answer is "already paid" and the card is never charged."""
    from billing.models import PaymentAttempt
    from billing.payments.gateway_registry import merchant_gateway

    seeded = await seed_invoice(runtime, merchant)
    pix = await attach(client, merchant, seeded.customer_id, "pix", set_default=False)
    card = await attach(client, merchant, seeded.customer_id, "pm_card_visa", set_default=False)
    url = f"/v1/invoices/{seeded.invoice_id}/pay"
    await client.post(url, json={"payment_method_id": pix["id"]}, headers=merchant.headers)
    [pending] = await payments_of(client, merchant, seeded.invoice_id)
    async with runtime.session_factory() as session:
        attempt = await session.get(PaymentAttempt, pending["id"])
        assert attempt is not None and attempt.gateway_ref is not None
        gateway, _ = await merchant_gateway(session, runtime.job_context, merchant.id)
    # Paid at the payer's bank: the gateway knows, we do not yet.
    await gateway.simulate_payment(attempt.gateway_ref)  # type: ignore[attr-defined]
    late = await client.post(url, json={"payment_method_id": card["id"]}, headers=merchant.headers)
    assert late.status_code == 409 and late.json()["code"] == "invoice_paid", late.text
    assert (await invoice_row(runtime, seeded.invoice_id)).status == "paid"
    [payment] = await payments_of(client, merchant, seeded.invoice_id)
    assert (payment["id"], payment["status"]) == (pending["id"], "succeeded")
    assert await sandbox_captures_for(runtime, seeded.invoice_id) == 1


async def test_late_invoice_charges_fee_and_interest(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    from datetime import timedelta

    due = runtime.clock.now() - timedelta(days=10)
    seeded = await seed_invoice(runtime, merchant, amount=10000, due_at=due)
    shown = (await client.get(f"/v1/invoices/{seeded.invoice_id}", headers=merchant.headers)).json()
    await attach(client, merchant, seeded.customer_id, "pm_card_visa")
    response = await client.post(f"/v1/invoices/{seeded.invoice_id}/pay", headers=merchant.headers)
    assert response.status_code == 200, response.text
    invoice = response.json()
    # 2 % fee, 1 % a month pro rata die for 10 days: 200 + 33.
    assert (invoice["late_fee"], invoice["interest"]) == (200, 33)
    assert invoice["amount_paid"] == 10233 == shown["amount_due"]
    assert invoice["total"] == sum(line["amount"] for line in invoice["lines"]) == 10233
    [payment] = await payments_of(client, merchant, seeded.invoice_id)
    assert payment["amount"] == 10233


async def test_tenant_isolation(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    from tests.conftest import new_merchant

    other = await new_merchant(runtime, "Outra")
    seeded = await seed_invoice(runtime, merchant)
    await attach(client, merchant, seeded.customer_id, "pm_card_visa")
    for method, url in [
        ("post", f"/v1/invoices/{seeded.invoice_id}/pay"),
        ("get", f"/v1/customers/{seeded.customer_id}/payment_methods"),
        ("post", f"/v1/test_helpers/invoices/{seeded.invoice_id}/simulate_payment"),
    ]:
        response = await client.request(method.upper(), url, headers=other.headers)
        assert response.status_code == 404, url
    response = await client.get(
        "/v1/payments", params={"invoice_id": seeded.invoice_id}, headers=other.headers
    )
    assert response.status_code == 404
    attach_other = await client.post(
        f"/v1/customers/{seeded.customer_id}/payment_methods",
        json={"token": "pm_card_visa"},
        headers=other.headers,
    )
    assert attach_other.status_code == 404
    assert (await invoice_row(runtime, seeded.invoice_id)).status == "open"


async def test_a_new_payment_cancels_the_one_waiting_for_authentication(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    """Invariant 3: once a payer pays another way, the 3-D Secure charge left waiting can
    never be completed as well."""
    from billing.payments.gateway_registry import sandbox_gateway

    seeded = await seed_invoice(runtime, merchant)
    await attach(client, merchant, seeded.customer_id, "pm_card_authenticationRequired")
    url = f"/v1/invoices/{seeded.invoice_id}/pay"
    assert (await client.post(url, headers=merchant.headers)).status_code == 402
    [waiting] = await payments_of(client, merchant, seeded.invoice_id)
    visa = await attach(client, merchant, seeded.customer_id, "pm_card_visa")

    paid = await client.post(url, json={"payment_method_id": visa["id"]}, headers=merchant.headers)
    assert paid.status_code == 200 and paid.json()["status"] == "paid"

    old, new = await payments_of(client, merchant, seeded.invoice_id)
    assert old["id"] == waiting["id"] and old["status"] == "failed"
    assert new["status"] == "succeeded"
    # The payer returning to the old 3-D Secure page cannot complete it any more.
    gateway = sandbox_gateway(runtime.job_context)
    async with runtime.session_factory() as session:
        from billing.models import PaymentAttempt

        old_row = await session.get(PaymentAttempt, old["id"])
        assert old_row is not None and old_row.gateway_ref
    with pytest.raises(Exception, match="does not require action"):
        await gateway.confirm_authentication(old_row.gateway_ref, success=True)
    assert await sandbox_captures_for(runtime, seeded.invoice_id) == 1


async def test_authentication_completed_first_is_recorded_not_charged_again(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    from billing.models import PaymentAttempt
    from billing.payments.gateway_registry import sandbox_gateway

    seeded = await seed_invoice(runtime, merchant)
    await attach(client, merchant, seeded.customer_id, "pm_card_authenticationRequired")
    url = f"/v1/invoices/{seeded.invoice_id}/pay"
    assert (await client.post(url, headers=merchant.headers)).status_code == 402
    [waiting] = await payments_of(client, merchant, seeded.invoice_id)
    async with runtime.session_factory() as session:
        row = await session.get(PaymentAttempt, waiting["id"])
        assert row is not None and row.gateway_ref
    # The payer completes 3-D Secure at the bank; we have not heard of it yet.
    await sandbox_gateway(runtime.job_context).confirm_authentication(row.gateway_ref, success=True)
    visa = await attach(client, merchant, seeded.customer_id, "pm_card_visa")

    again = await client.post(url, json={"payment_method_id": visa["id"]}, headers=merchant.headers)
    assert again.status_code == 409 and again.json()["code"] == "invoice_paid"
    [only] = await payments_of(client, merchant, seeded.invoice_id)
    assert only["status"] == "succeeded"
    assert (await invoice_row(runtime, seeded.invoice_id)).status == "paid"
    assert await sandbox_captures_for(runtime, seeded.invoice_id) == 1
