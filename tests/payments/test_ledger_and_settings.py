"""The database-backed sandbox ledger, gateway settings, payment methods, the unique index."""

from __future__ import annotations

import asyncio

import pytest
from httpx import AsyncClient
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from billing.db import unit_of_work
from billing.kit.clock import FixedClock
from billing.kit.ids import new_id
from billing.models import PaymentAttempt
from billing.payments.ledger import DbLedger
from billing.runtime import Runtime
from tests.conftest import Database, MerchantAccount, app_client, make_runtime, new_merchant
from tests.payments.helpers import attach, payments_of, seed_invoice


async def test_db_ledger_counts_atomically_across_connections(runtime: Runtime) -> None:
    ledger = DbLedger(runtime.engine)
    key = f"test:{new_id('x')}"
    assert await ledger.get(key) is None
    await ledger.put(key, {"a": 1})
    await ledger.put(key, {"a": 2, "b": [1, 2]})
    assert await ledger.get(key) == {"a": 2, "b": [1, 2]}
    counter = f"count:{new_id('x')}"
    values = await asyncio.gather(*(ledger.incr(counter) for _ in range(20)))
    assert sorted(values) == list(range(1, 21))
    assert await ledger.incr(counter, -5) == 15
    await ledger.aclose()


async def test_gateway_settings_secrets_are_write_only_and_encrypted(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    url = "/v1/settings/gateway"
    shown = (await client.get(url, headers=merchant.headers)).json()
    assert shown["provider"] == "sandbox" and shown["secret_key_set"] is False
    missing = await client.put(url, json={"provider": "stripe"}, headers=merchant.headers)
    assert missing.status_code == 422
    bad = await client.put(url, json={"provider": "paypal"}, headers=merchant.headers)
    assert bad.status_code == 422
    secret = "sk_test_supersecretvalue1234"
    saved = await client.put(
        url,
        json={"provider": "stripe", "secret_key": secret, "webhook_secret": "whsec_hidden"},
        headers=merchant.headers,
    )
    assert saved.status_code == 200, saved.text
    body = saved.text + (await client.get(url, headers=merchant.headers)).text
    assert secret not in body and "whsec_hidden" not in body
    assert saved.json()["secret_key_last4"] == "1234"
    async with runtime.session_factory() as session:
        stored = str(
            (
                await session.execute(
                    text("SELECT gateway FROM merchant_settings WHERE merchant_id = :m"),
                    {"m": merchant.id},
                )
            ).scalar()
        )
    assert secret not in stored and "whsec_hidden" not in stored
    # Omitting the key keeps the stored one; switching back to the sandbox works.
    again = await client.put(url, json={"provider": "stripe"}, headers=merchant.headers)
    assert again.status_code == 200 and again.json()["secret_key_set"] is True
    back = await client.put(url, json={"provider": "sandbox"}, headers=merchant.headers)
    assert back.json() == {
        "provider": "sandbox",
        "secret_key_set": False,
        "secret_key_last4": None,
        "webhook_secret_set": False,
        "publishable_key": None,
    }


async def test_gateway_settings_publishable_key_is_readable_and_checked(
    client: AsyncClient, merchant: MerchantAccount
) -> None:
    url = "/v1/settings/gateway"
    body = {"provider": "stripe", "secret_key": "sk_test_supersecretvalue1234"}
    pk = "pk_test_51PublicValueForStripeJs"
    saved = await client.put(url, json={**body, "publishable_key": pk}, headers=merchant.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["publishable_key"] == pk  # not a secret: shown back as it is
    assert (await client.get(url, headers=merchant.headers)).json()["publishable_key"] == pk
    # Omitted keeps it (like the secrets); a malformed one is refused and changes nothing.
    kept = await client.put(url, json={"provider": "stripe"}, headers=merchant.headers)
    assert kept.json()["publishable_key"] == pk
    for bad in ("sk_test_notpublic123", "pk_test_", "pk_prod_abcdefgh123", "pk_test_a b<c>d"):
        refused = await client.put(
            url, json={"provider": "stripe", "publishable_key": bad}, headers=merchant.headers
        )
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["code"] == "validation_error"
        assert problem["errors"][0]["field"] == "publishable_key"
    live = await client.put(
        url,
        json={"provider": "stripe", "publishable_key": "pk_live_51OtherModeKey"},
        headers=merchant.headers,
    )
    assert live.status_code == 422 and "test" in live.text  # a test secret key's pair
    assert (await client.get(url, headers=merchant.headers)).json()["publishable_key"] == pk
    on_sandbox = await client.put(
        url, json={"provider": "sandbox", "publishable_key": pk}, headers=merchant.headers
    )
    assert on_sandbox.status_code == 422
    cleared = await client.put(
        url, json={"provider": "stripe", "publishable_key": ""}, headers=merchant.headers
    )
    assert cleared.status_code == 200 and cleared.json()["publishable_key"] is None
    # Switching provider starts from nothing, the key included.
    await client.put(url, json={**body, "publishable_key": pk}, headers=merchant.headers)
    back = await client.put(url, json={"provider": "sandbox"}, headers=merchant.headers)
    assert back.json()["publishable_key"] is None


async def test_deployment_publishable_key_only_pairs_with_the_deployment_secret(
    database: Database, clock: FixedClock
) -> None:
    env_key = "pk_test_deploymentwide123"
    rt = await make_runtime(database, clock, gateway="stripe", stripe_publishable_key=env_key)
    try:
        async with app_client(rt) as client:
            merchant = await new_merchant(rt)
            url = "/v1/settings/gateway"
            shown = (await client.get(url, headers=merchant.headers)).json()
            assert shown["provider"] == "stripe" and shown["publishable_key"] == env_key
            # A merchant's own Stripe account never gets the deployment's public key.
            own = await client.put(
                url,
                json={"provider": "stripe", "secret_key": "sk_test_merchantsownaccount"},
                headers=merchant.headers,
            )
            assert own.status_code == 200 and own.json()["publishable_key"] is None
    finally:
        await rt.close()


async def test_payment_methods_default_list_detach(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    seeded = await seed_invoice(runtime, merchant)
    base = f"/v1/customers/{seeded.customer_id}/payment_methods"
    first = await attach(client, merchant, seeded.customer_id, "pm_card_visa", set_default=False)
    assert first["is_default"] is True  # the first method is the default anyway
    second = await attach(
        client, merchant, seeded.customer_id, "pm_card_mastercard", set_default=False
    )
    assert second["is_default"] is False
    third = await attach(client, merchant, seeded.customer_id, "pm_card_chargeDeclined")
    listed = (await client.get(base, headers=merchant.headers)).json()["data"]
    assert [m["is_default"] for m in listed if m["id"] == third["id"]] == [True]
    assert sum(m["is_default"] for m in listed) == 1
    unknown = await client.post(base, json={"token": "tok_nope"}, headers=merchant.headers)
    assert unknown.status_code == 422 and unknown.json()["code"] == "validation_error"

    deleted = await client.delete(f"{base}/{third['id']}", headers=merchant.headers)
    assert deleted.status_code == 200
    listed = (await client.get(base, headers=merchant.headers)).json()["data"]
    assert {m["id"] for m in listed} == {first["id"], second["id"]}
    assert (
        await client.delete(f"{base}/{third['id']}", headers=merchant.headers)
    ).status_code == 404
    # Paying with a named method uses that one.
    paid = await client.post(
        f"/v1/invoices/{seeded.invoice_id}/pay",
        json={"payment_method_id": second["id"]},
        headers=merchant.headers,
    )
    assert paid.status_code == 200, paid.text
    [payment] = await payments_of(client, merchant, seeded.invoice_id)
    assert payment["payment_method_id"] == second["id"]


async def test_database_refuses_a_second_success(
    client: AsyncClient, runtime: Runtime, merchant: MerchantAccount
) -> None:
    seeded = await seed_invoice(runtime, merchant)
    await attach(client, merchant, seeded.customer_id, "pm_card_visa")
    await client.post(f"/v1/invoices/{seeded.invoice_id}/pay", headers=merchant.headers)
    [payment] = await payments_of(client, merchant, seeded.invoice_id)
    with pytest.raises(IntegrityError):
        async with unit_of_work(runtime.session_factory) as session:
            session.add(
                PaymentAttempt(
                    id=new_id("pay"),
                    merchant_id=merchant.id,
                    invoice_id=seeded.invoice_id,
                    customer_id=seeded.customer_id,
                    attempt_number=2,
                    initiated_by="merchant",
                    amount=4990,
                    currency="BRL",
                    status="processing",
                    idempotency_key=f"billing:charge:{seeded.invoice_id}:2",
                    attempted_at=runtime.clock.now(),
                )
            )
            await session.flush()
            await session.execute(
                update(PaymentAttempt)
                .where(
                    PaymentAttempt.invoice_id == seeded.invoice_id,
                    PaymentAttempt.attempt_number == 2,
                )
                .values(status="succeeded")
            )
    assert payment["status"] == "succeeded"
