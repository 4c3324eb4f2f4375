"""The portal's "add a card" on Stripe (issue 7), against localstripe: the page, and the
completion that asks Stripe before saving anything. The browser's part is played here by
the same request localstripe-v3.js makes; tests/e2e/test_portal_stripe_browser.py runs the
real page in Chromium."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import stripe
from sqlalchemy import select

from billing.config import Settings
from billing.models import Customer, GatewayEvent, PaymentMethod, Subscription
from billing.portal.web import card_page_csp
from billing.queue import InlineDispatcher
from billing.runtime import Runtime
from tests.conftest import MerchantAccount, app_client, new_merchant
from tests.fixtures_stripe import card_at_stripe, localstripe_url, stripe_client, stripe_runtime
from tests.portal.portal_world import csrf_of, enter
from tests.webhooks.helpers import WEBHOOK_SECRET, signed

__all__ = ["localstripe_url", "stripe_client", "stripe_runtime"]

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")

PUBLISHABLE = "pk_test_portalcardform123"


async def _stripe_merchant(runtime: Runtime, client: httpx.AsyncClient) -> MerchantAccount:
    merchant = await new_merchant(runtime, "Loja Stripe")
    settings = {
        "provider": "stripe",
        "secret_key": f"sk_test_{uuid.uuid4().hex}",
        "webhook_secret": WEBHOOK_SECRET,
        "publishable_key": PUBLISHABLE,
    }
    response = await client.put("/v1/settings/gateway", json=settings, headers=merchant.headers)
    assert response.status_code == 200, response.text
    return merchant


@dataclass
class Payer:
    merchant: MerchantAccount
    customer_id: str
    subscription_id: str
    client: httpx.AsyncClient  # holds this payer's portal session cookie


async def _payer(runtime: Runtime, merchant: MerchantAccount) -> Payer:
    """A customer with a subscription and no card yet, signed in to the portal."""
    client = app_client(runtime)
    h = merchant.headers
    plan = await client.post(
        "/v1/plans",
        json={"name": "Mensal", "amount": 10000, "currency": "BRL", "interval": "month"},
        headers=h,
    )
    customer = await client.post(
        "/v1/customers",
        json={"email": f"{uuid.uuid4().hex[:8]}@example.com", "name": "Maria Souza"},
        headers=h,
    )
    cid = customer.json()["id"]
    sub = await client.post(
        "/v1/subscriptions", json={"customer_id": cid, "plan_id": plan.json()["id"]}, headers=h
    )
    assert sub.status_code == 201, sub.text
    link = await client.post("/v1/portal_sessions", json={"customer_id": cid}, headers=h)
    entered = await enter(client, link.json()["url"].removeprefix("http://testserver.local"))
    assert entered.status_code == 303, entered.text
    return Payer(merchant, cid, sub.json()["id"], client)


@pytest.fixture
async def stripe_merchant(
    stripe_runtime: Runtime, stripe_client: httpx.AsyncClient
) -> MerchantAccount:
    return await _stripe_merchant(stripe_runtime, stripe_client)


@pytest.fixture
async def payer(stripe_runtime: Runtime, stripe_merchant: MerchantAccount) -> AsyncIterator[Payer]:
    """The Stripe merchant's payer of most scenarios; its portal client closed afterwards."""
    signed_in = await _payer(stripe_runtime, stripe_merchant)
    yield signed_in
    await signed_in.client.aclose()


async def _csrf(payer: Payer) -> str:
    return csrf_of((await payer.client.get("/portal/methods")).text)


async def _open_card_form(payer: Payer) -> tuple[str, httpx.Response]:
    """Press "Add a card": the SetupIntent's id and our Elements page."""
    started = await payer.client.post(
        "/portal/methods/new", data={"csrf_token": await _csrf(payer)}
    )
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    match = re.fullmatch(r"/portal/methods/card/(seti_\w+)\?return_url=(.+)", location)
    assert match, location
    assert unquote(match.group(2)) == "/portal/methods?notice=methods.added"
    page = await payer.client.get(location)
    assert page.status_code == 200, page.text
    return match.group(1), page


async def _confirm_in_browser(
    localstripe: str, page: httpx.Response, number: str
) -> httpx.Response:
    """What localstripe-v3.js's confirmCardSetup sends, with the page's own public values."""
    secret = re.search(r'data-client-secret="([^"]+)"', page.text)
    key = re.search(r'data-publishable-key="([^"]+)"', page.text)
    assert secret and key
    seti = secret.group(1).split("_secret_")[0]
    async with httpx.AsyncClient() as browser:
        return await browser.post(
            f"{localstripe}/v1/setup_intents/{seti}/confirm",
            json={
                "key": key.group(1),
                "client_secret": secret.group(1),
                "use_stripe_sdk": True,
                "payment_method_data": {
                    "type": "card",
                    "card": {"number": number, "exp_month": "12", "exp_year": 2034, "cvc": "123"},
                },
            },
        )


async def _confirmed_card(payer: Payer, localstripe: str) -> tuple[str, httpx.Response]:
    """The payer opens the card form and confirms a good Visa: the SetupIntent's id and
    Stripe's answer to the browser."""
    seti, page = await _open_card_form(payer)
    confirmed = await _confirm_in_browser(localstripe, page, "4242424242424242")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded"
    return seti, confirmed


async def _complete(payer: Payer, seti: str, csrf: str | None = None) -> httpx.Response:
    form = {
        "setup_intent": seti,
        "return_url": "/portal/methods?notice=methods.added",
        "csrf_token": csrf or await _csrf(payer),
    }
    return await payer.client.post("/portal/methods/card", data=form)


async def _methods(runtime: Runtime, payer: Payer) -> list[PaymentMethod]:
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(PaymentMethod).where(
                PaymentMethod.customer_id == payer.customer_id, PaymentMethod.detached_at.is_(None)
            )
        )
        return list(rows)


async def test_card_saved_once_as_default_after_stripe_says_so(
    stripe_runtime: Runtime, stripe_client: httpx.AsyncClient, payer: Payer, localstripe_url: str
) -> None:
    seti, page = await _open_card_form(payer)
    assert f'data-publishable-key="{PUBLISHABLE}"' in page.text
    assert 'src="https://js.stripe.com/v3/"' in page.text  # the default Stripe.js
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' https://js.stripe.com https://*.js.stripe.com;" in csp
    assert f"connect-src 'self' {localstripe_url};" in csp  # the API the SDK is pointed at
    assert "frame-src https://js.stripe.com" in csp
    other = await payer.client.get("/portal/methods")
    assert "stripe" not in other.headers["content-security-policy"]  # only the card page

    # Posted before the payer confirmed anything: Stripe says no, nothing is saved.
    early = await _complete(payer, seti)
    assert early.status_code == 422 and await _methods(stripe_runtime, payer) == []

    confirmed = await _confirm_in_browser(localstripe_url, page, "4242424242424242")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded"
    done = await _complete(payer, seti)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/portal/methods?notice=methods.added"
    [method] = await _methods(stripe_runtime, payer)
    assert (method.brand, method.last4, method.is_default) == ("visa", "4242", True)
    assert method.gateway_ref == confirmed.json()["payment_method"]
    async with stripe_runtime.session_factory() as session:
        sub = await session.get(Subscription, payer.subscription_id)
    assert sub is not None and sub.payment_method_id == method.id  # retries use it
    listed = await payer.client.get("/portal/methods")
    assert "Visa final 4242" in listed.text

    # A replay (reload, second tab) and then Stripe's webhook: still one method.
    again = await _complete(payer, seti)
    assert again.status_code == 303
    row = await _deliver_setup(stripe_runtime, stripe_client, payer.merchant, confirmed.json())
    assert row.outcome == "payment method already known"
    assert [m.id for m in await _methods(stripe_runtime, payer)] == [method.id]


async def test_setup_of_another_payer_or_unknown_is_404_and_saves_nothing(
    stripe_runtime: Runtime, stripe_merchant: MerchantAccount, localstripe_url: str
) -> None:
    mallory = await _payer(stripe_runtime, stripe_merchant)
    maria = await _payer(stripe_runtime, stripe_merchant)
    seti, _ = await _confirmed_card(maria, localstripe_url)
    stolen = await _complete(mallory, seti)
    assert stolen.status_code == 404
    assert (await mallory.client.get(f"/portal/methods/card/{seti}")).status_code == 404
    assert (await _complete(mallory, "seti_doesnotexist")).status_code == 404
    assert (await _complete(mallory, "pm_card_visa")).status_code == 404
    assert await _methods(stripe_runtime, mallory) == []
    # Maria's own completion still works afterwards: nothing was used up.
    assert (await _complete(maria, seti)).status_code == 303
    assert len(await _methods(stripe_runtime, maria)) == 1
    await mallory.client.aclose()
    await maria.client.aclose()


async def test_declined_at_setup_saves_nothing_and_csrf_is_required(
    stripe_runtime: Runtime, payer: Payer, localstripe_url: str
) -> None:
    seti, page = await _open_card_form(payer)
    declined = await _confirm_in_browser(localstripe_url, page, "4000000000000002")
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "card_declined"
    assert (await _complete(payer, seti)).status_code == 422
    no_csrf = await payer.client.post("/portal/methods/card", data={"setup_intent": seti})
    assert no_csrf.status_code == 403
    assert (await _complete(payer, seti, csrf="0" * 64)).status_code == 403
    assert await _methods(stripe_runtime, payer) == []


async def test_no_publishable_key_is_a_clear_page_not_a_setup(
    stripe_runtime: Runtime, stripe_client: httpx.AsyncClient, stripe_merchant: MerchantAccount
) -> None:
    cleared = await stripe_client.put(
        "/v1/settings/gateway",
        json={"provider": "stripe", "publishable_key": ""},
        headers=stripe_merchant.headers,
    )
    assert cleared.json()["publishable_key"] is None
    payer = await _payer(stripe_runtime, stripe_merchant)
    started = await payer.client.post(
        "/portal/methods/new", data={"csrf_token": await _csrf(payer)}
    )
    assert started.status_code == 409
    assert "publishable key" in started.text
    await payer.client.aclose()


def test_card_page_policy_allows_only_the_configured_stripe_js_and_api() -> None:
    local = "http://localhost:4242"
    settings = Settings(
        database_url="sqlite+aiosqlite://",
        stripe_js_url=f"{local}/js.stripe.com/v3/",
        stripe_api_base=local,
    )
    csp = card_page_csp(settings)
    assert f"script-src 'self' {local};" in csp and f"connect-src 'self' {local};" in csp
    assert "frame-src" not in csp and "*" not in csp and "stripe.com" not in csp
    real = card_page_csp(Settings(database_url="sqlite+aiosqlite://"))
    assert "connect-src 'self' https://api.stripe.com;" in real
    frames = "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"
    assert frames in real


# -- one card, however many reports of one confirmation, in any order or at once ------------


def _sdk(localstripe: str) -> stripe.StripeClient:
    """The official SDK on localstripe, as the merchant's own integration would hold it."""
    return stripe.StripeClient(
        f"sk_test_{uuid.uuid4().hex}",
        base_addresses={"api": localstripe},
        http_client=stripe.HTTPXClient(),
    )


async def _setup_at_stripe(localstripe: str, seti: str) -> dict[str, Any]:
    """The SetupIntent as Stripe holds it (and sends it in its webhook)."""
    return (await _sdk(localstripe).v1.setup_intents.retrieve_async(seti)).to_dict()


async def _store_setup_event(
    runtime: Runtime, client: httpx.AsyncClient, merchant: MerchantAccount, setup: dict[str, Any]
) -> str:
    """Stripe's signed setup_intent.succeeded for ``setup``, stored by our endpoint; its id."""
    event = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "setup_intent.succeeded",
        "created": int(runtime.clock.now().timestamp()),
        "data": {"object": setup},
    }
    body, headers = signed(event, timestamp=int(runtime.clock.now().timestamp()))
    hook = await client.post(f"/webhooks/stripe/{merchant.id}", content=body, headers=headers)
    assert hook.status_code == 200, hook.text
    return str(event["id"])


async def _processed(runtime: Runtime, event_id: str) -> GatewayEvent:
    assert isinstance(runtime.dispatcher, InlineDispatcher)
    await runtime.dispatcher.drain()
    async with runtime.session_factory() as session:
        row = await session.scalar(select(GatewayEvent).where(GatewayEvent.event_id == event_id))
    assert row is not None and row.status == "processed", row and row.last_error
    return row


async def _deliver_setup(
    runtime: Runtime, client: httpx.AsyncClient, merchant: MerchantAccount, setup: dict[str, Any]
) -> GatewayEvent:
    return await _processed(runtime, await _store_setup_event(runtime, client, merchant, setup))


async def _subscription_method(runtime: Runtime, payer: Payer) -> str | None:
    async with runtime.session_factory() as session:
        sub = await session.get(Subscription, payer.subscription_id)
    assert sub is not None
    return sub.payment_method_id


async def _only_default_card(runtime: Runtime, payer: Payer, gateway_ref: str) -> PaymentMethod:
    """Exactly one row for the card, attached, the default, and the subscription's method."""
    async with runtime.session_factory() as session:
        rows = list(
            await session.scalars(
                select(PaymentMethod).where(PaymentMethod.customer_id == payer.customer_id)
            )
        )
    [method] = rows
    assert (method.gateway_ref, method.detached_at, method.is_default) == (gateway_ref, None, True)
    assert (method.brand, method.last4) == ("visa", "4242")
    assert await _subscription_method(runtime, payer) == method.id
    return method


async def test_two_completions_at_once_save_the_card_once(
    stripe_runtime: Runtime, payer: Payer, localstripe_url: str
) -> None:
    """A double submit: both POSTs run side by side, each in its own request and session."""
    seti, confirmed = await _confirmed_card(payer, localstripe_url)
    csrf = await _csrf(payer)
    first, second = await asyncio.gather(_complete(payer, seti, csrf), _complete(payer, seti, csrf))
    assert (first.status_code, second.status_code) == (303, 303), (first.text, second.text)
    assert first.headers["location"] == second.headers["location"]
    await _only_default_card(stripe_runtime, payer, confirmed.json()["payment_method"])


async def test_webhook_and_completion_at_once_save_the_card_once(
    stripe_runtime: Runtime, stripe_client: httpx.AsyncClient, payer: Payer, localstripe_url: str
) -> None:
    seti, _ = await _confirmed_card(payer, localstripe_url)
    setup = await _setup_at_stripe(localstripe_url, seti)
    event_id = await _store_setup_event(stripe_runtime, stripe_client, payer.merchant, setup)
    csrf = await _csrf(payer)
    posted, row = await asyncio.gather(
        _complete(payer, seti, csrf), _processed(stripe_runtime, event_id)
    )
    assert posted.status_code == 303, posted.text
    method = await _only_default_card(stripe_runtime, payer, str(setup["payment_method"]))
    # Whichever ran first saved it; the other found it saved.
    assert row.outcome in (
        "payment method already known",
        f"card {method.id} saved for {payer.customer_id}",
    )


async def test_browser_closed_after_confirming_webhook_saves_the_card_then_post_is_a_replay(
    stripe_runtime: Runtime, stripe_client: httpx.AsyncClient, payer: Payer, localstripe_url: str
) -> None:
    merchant = payer.merchant
    seti, _ = await _confirmed_card(payer, localstripe_url)
    # The payer's browser closes here: only Stripe's webhook tells us.
    setup = await _setup_at_stripe(localstripe_url, seti)
    assert setup["metadata"]["billing_merchant_id"] == merchant.id  # ours, and whose
    assert setup["metadata"]["billing_customer_id"] == payer.customer_id
    row = await _deliver_setup(stripe_runtime, stripe_client, merchant, setup)
    method = await _only_default_card(stripe_runtime, payer, str(setup["payment_method"]))
    assert row.outcome == f"card {method.id} saved for {payer.customer_id}"
    assert "Visa final 4242" in (await payer.client.get("/portal/methods")).text

    # The browser came back after all (or the payer reloaded): the same card, nothing new.
    late = await _complete(payer, seti)
    assert late.status_code == 303, late.text
    assert (await _only_default_card(stripe_runtime, payer, method.gateway_ref)).id == method.id
    # And Stripe redelivering the event (a new delivery id) changes nothing either.
    again = await _deliver_setup(stripe_runtime, stripe_client, merchant, setup)
    assert again.outcome == "payment method already known"
    assert (await _only_default_card(stripe_runtime, payer, method.gateway_ref)).id == method.id


async def test_completion_first_then_webhook_keeps_the_one_card(
    stripe_runtime: Runtime, stripe_client: httpx.AsyncClient, payer: Payer, localstripe_url: str
) -> None:
    merchant = payer.merchant
    seti, _ = await _confirmed_card(payer, localstripe_url)
    assert (await _complete(payer, seti)).status_code == 303
    setup = await _setup_at_stripe(localstripe_url, seti)
    method = await _only_default_card(stripe_runtime, payer, str(setup["payment_method"]))
    row = await _deliver_setup(stripe_runtime, stripe_client, merchant, setup)
    assert row.outcome == "payment method already known"
    assert (await _only_default_card(stripe_runtime, payer, method.gateway_ref)).id == method.id

    # Removed by the payer, then a late redelivery: the removal stands.
    csrf = await _csrf(payer)
    removed = await payer.client.post(
        f"/portal/methods/{method.id}/remove", data={"csrf_token": csrf}
    )
    assert removed.status_code == 303, removed.text
    late = await _deliver_setup(stripe_runtime, stripe_client, merchant, setup)
    assert late.outcome == "payment method removed since: not saved again"
    assert await _methods(stripe_runtime, payer) == []


async def test_setup_intent_not_made_by_us_for_that_payer_saves_nothing(
    stripe_runtime: Runtime,
    stripe_client: httpx.AsyncClient,
    stripe_merchant: MerchantAccount,
    localstripe_url: str,
) -> None:
    merchant = stripe_merchant
    other = await _stripe_merchant(stripe_runtime, stripe_client)
    maria, mallory = await _payer(stripe_runtime, merchant), await _payer(stripe_runtime, merchant)
    for payer in (maria, mallory):
        await _open_card_form(payer)  # each now has a Stripe customer
    async with stripe_runtime.session_factory() as session:
        customer = await session.get(Customer, maria.customer_id)
    assert customer is not None and customer.gateway_customer_ref
    maria_ref = customer.gateway_customer_ref
    sdk = _sdk(localstripe_url)
    foreign = {
        "another merchant's": {
            "billing_merchant_id": other.id,
            "billing_customer_id": maria.customer_id,
        },
        "another payer's": {
            "billing_merchant_id": merchant.id,
            "billing_customer_id": mallory.customer_id,
        },
        "no customer": {"billing_merchant_id": merchant.id},
        "none": {},
    }
    for name, metadata in foreign.items():
        # A SetupIntent the merchant's own integration made on Maria's Stripe customer.
        si = await sdk.v1.setup_intents.create_async(
            params={"customer": maria_ref, "usage": "off_session", "metadata": metadata}
        )
        pm_id = await card_at_stripe(sdk, exp_year=2034)
        done = await sdk.v1.setup_intents.confirm_async(si.id, params={"payment_method": pm_id})
        assert done.status == "succeeded"
        row = await _deliver_setup(stripe_runtime, stripe_client, merchant, done.to_dict())
        # The merchant still hears of it, as before; our side saves nothing.
        assert row.outcome == f"payment method {pm_id} reported for {maria.customer_id}", name
    # Delivered to the other merchant's endpoint, Maria's Stripe customer is no one there.
    claimed = dict(
        done.to_dict(),
        metadata={"billing_merchant_id": other.id, "billing_customer_id": maria.customer_id},
    )
    row = await _deliver_setup(stripe_runtime, stripe_client, other, claimed)
    assert row.outcome == "no customer of ours"
    for payer in (maria, mallory):
        assert await _methods(stripe_runtime, payer) == []
        assert await _subscription_method(stripe_runtime, payer) is None
        await payer.client.aclose()
