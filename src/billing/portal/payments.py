"""Paying and managing payment methods from the portal, through issue 4's services.

The charge runs its own units of work (invariant 3: the attempt is committed before the
gateway call, and no transaction is held across it). So, like ``pay_invoice``, these
functions end the request's read-only transaction first: nothing has been written in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.gateways import InvalidRequest, MethodChangeState
from billing.jobs import JobContext
from billing.kit.errors import NotFound, ValidationFailed
from billing.models import Customer, PaymentMethod
from billing.payments.attempts import SkipReason
from billing.payments.card_setups import save_confirmed_card, use_for_subscriptions
from billing.payments.gateway_registry import (
    GatewayNotConfigured,
    load_publishable_key,
    merchant_gateway,
)
from billing.payments.methods import (
    attach_at_gateway,
    attach_method,
    attached_method,
    detach_method,
)
from billing.payments.service import attempt_charge, record_result
from billing.portal.sessions import Payer
from billing.portal.views import attempt_by_gateway_ref, get_invoice, get_method

CHOICES = frozenset({"saved", "pix", "boleto"})
# In the sandbox, "pix" and "boleto" are tokens like a card's; other gateways would need
# their own one-off method flow.
ONE_OFF_TOKENS = {"pix": "pix", "boleto": "boleto"}


@dataclass(frozen=True)
class PayOutcome:
    status: str  # succeeded | failed | processing | requires_action | skipped
    attempt_id: str | None = None
    skipped: SkipReason | None = None


async def _one_off_method(
    session: AsyncSession, ctx: JobContext, payer: Payer, kind: str, now: datetime
) -> str:
    existing = await session.scalar(
        select(PaymentMethod.id).where(
            PaymentMethod.merchant_id == payer.merchant_id,
            PaymentMethod.customer_id == payer.customer_id,
            PaymentMethod.type == kind,
            PaymentMethod.detached_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    method = await attach_method(
        session,
        ctx,
        merchant_id=payer.merchant_id,
        customer_id=payer.customer_id,
        token=ONE_OFF_TOKENS[kind],
        set_default=False,
        now=now,
    )
    await session.commit()  # the charge below reads it from its own transaction
    return method.id


async def pay_invoice(
    session: AsyncSession,
    ctx: JobContext,
    payer: Payer,
    invoice_id: str,
    *,
    choice: str,
    payment_method_id: str | None,
    now: datetime,
) -> PayOutcome:
    """One payer-initiated attempt on the payer's own invoice."""
    if choice not in CHOICES:
        raise ValidationFailed("choice", "must be saved, pix or boleto")
    await get_invoice(session, payer, invoice_id)  # another payer's: 404
    if choice == "saved":
        if not payment_method_id:
            raise ValidationFailed("payment_method_id", "choose a saved method")
        method_id = (await get_method(session, payer, payment_method_id)).id
    else:
        method_id = await _one_off_method(session, ctx, payer, choice, now)
    await session.commit()  # end our read transaction before the charge's own
    outcome = await attempt_charge(
        ctx,
        merchant_id=payer.merchant_id,
        invoice_id=invoice_id,
        payment_method_id=method_id,
        initiated_by="payer",
    )
    if outcome.attempt is None:
        return PayOutcome("skipped", skipped=outcome.skipped)
    return PayOutcome(outcome.attempt.status, outcome.attempt.id)


async def confirm_sandbox_authentication(
    session: AsyncSession, ctx: JobContext, payer: Payer, gateway_ref: str, *, success: bool
) -> tuple[str, str]:
    """The sandbox's 3-D Secure challenge answered: the gateway settles the payment, then
    the outcome is recorded like any other (its own unit of work, through the attempt's
    transition table). Returns (invoice id, attempt status)."""
    attempt = await attempt_by_gateway_ref(session, payer, gateway_ref)
    invoice_id, attempt_id = attempt.invoice_id, attempt.id
    if attempt.status != "requires_action":
        return invoice_id, attempt.status  # answered already (another tab, a new attempt)
    gateway, config = await merchant_gateway(session, ctx, payer.merchant_id)
    if config.provider != "sandbox":
        raise NotFound("Only the sandbox gateway has this page.")
    await session.commit()  # no transaction across the gateway call
    try:
        result = await gateway.confirm_authentication(  # type: ignore[attr-defined]
            gateway_ref, success=success
        )
    except InvalidRequest:
        # The gateway has already settled it (a double click): record what it says now.
        found = await gateway.find_charge(
            idempotency_key=attempt.idempotency_key,
            gateway_customer=await _gateway_customer(session, payer),
        )
        if found is None:
            raise
        result = found
    recorded = await record_result(ctx, attempt_id, result)
    return invoice_id, recorded.status


async def _gateway_customer(session: AsyncSession, payer: Payer) -> str:
    ref = await session.scalar(
        select(Customer.gateway_customer_ref).where(
            Customer.id == payer.customer_id, Customer.merchant_id == payer.merchant_id
        )
    )
    return ref or ""


async def start_add_card(
    session: AsyncSession, ctx: JobContext, payer: Payer, *, return_url: str
) -> str:
    """Where the payer enters a new card: the gateway's page, or our Elements page."""
    customer = await session.scalar(
        select(Customer).where(
            Customer.id == payer.customer_id, Customer.merchant_id == payer.merchant_id
        )
    )
    assert customer is not None  # the session was checked against this very row
    gateway, config = await merchant_gateway(session, ctx, payer.merchant_id)
    if config.provider == "stripe" and not await load_publishable_key(
        session, ctx, payer.merchant_id
    ):
        # Checked before a SetupIntent is made that no page could ever confirm.
        raise GatewayNotConfigured(
            "The card form needs the merchant's Stripe publishable key (PUT /v1/settings/gateway)."
        )
    known = customer.gateway_customer_ref
    await session.commit()  # no transaction across the gateway calls
    gateway_customer = known or await gateway.ensure_customer(
        merchant_id=payer.merchant_id,
        customer_id=customer.id,
        email=customer.email,
        name=customer.name,
    )
    if known is None:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer.id, Customer.gateway_customer_ref.is_(None))
            .values(gateway_customer_ref=gateway_customer)
        )
    flow = await gateway.start_method_change(
        gateway_customer=gateway_customer,
        return_url=return_url,
        merchant_id=payer.merchant_id,
        customer_id=customer.id,
    )
    if flow.url is not None:
        return flow.url
    # A client secret (Stripe): our page confirms it with Stripe.js Elements.
    return f"/portal/methods/card/{quote(flow.setup_ref, safe='')}?return_url=" + quote(
        return_url, safe=""
    )


@dataclass(frozen=True)
class CardForm:
    """What the Elements page needs: the SetupIntent's client secret and the public key."""

    setup_ref: str
    client_secret: str
    publishable_key: str


async def _payers_setup(
    session: AsyncSession, ctx: JobContext, payer: Payer, setup_ref: str
) -> MethodChangeState:
    """The setup as the gateway knows it, if it is this payer's: another's is a 404."""
    gateway, _ = await merchant_gateway(session, ctx, payer.merchant_id)
    gateway_customer = await _gateway_customer(session, payer)
    await session.commit()  # no transaction across the gateway call
    try:
        setup = await gateway.retrieve_method_change(setup_ref)
    except InvalidRequest as exc:
        raise NotFound("No such card form.") from exc
    if not gateway_customer or setup.gateway_customer != gateway_customer:
        raise NotFound("No such card form.")
    return setup


async def card_form(
    session: AsyncSession, ctx: JobContext, payer: Payer, setup_ref: str
) -> CardForm:
    publishable_key = await load_publishable_key(session, ctx, payer.merchant_id)
    if not publishable_key:
        raise GatewayNotConfigured("The card form needs the merchant's Stripe publishable key.")
    setup = await _payers_setup(session, ctx, payer, setup_ref)
    if setup.client_secret is None:
        raise NotFound("No such card form.")
    return CardForm(setup.setup_ref, setup.client_secret, publishable_key)


async def complete_card(
    session: AsyncSession, ctx: JobContext, payer: Payer, *, setup_ref: str, now: datetime
) -> PaymentMethod:
    """Stripe.js says the card was saved: ask the gateway, then save it as the default.

    Safe to repeat (a reload, a second tab, the setup_intent.succeeded webhook before or
    after, or any of them at the same moment): a method already saved from this setup is
    returned as it is (see ``payments/card_setups.py``)."""
    setup = await _payers_setup(session, ctx, payer, setup_ref)
    if setup.status != "succeeded" or not setup.payment_method or not setup.gateway_customer:
        raise ValidationFailed("setup_intent", "the card has not been confirmed")
    known = await attached_method(
        session, payer.merchant_id, payer.customer_id, setup.payment_method
    )
    if known is not None:
        return known
    gateway, _ = await merchant_gateway(session, ctx, payer.merchant_id)
    await session.commit()  # no transaction across the gateway call
    # Stripe.js attached it already; the adapter takes that as success and gives us the
    # card's details (and checks it is this payer's customer's).
    info = await attach_at_gateway(
        gateway, gateway_customer=setup.gateway_customer, token=setup.payment_method
    )
    method, _ = await save_confirmed_card(
        session,
        merchant_id=payer.merchant_id,
        customer_id=payer.customer_id,
        gateway_customer=setup.gateway_customer,
        info=info,
        now=now,
    )
    return method


async def complete_sandbox_card(
    session: AsyncSession, ctx: JobContext, payer: Payer, *, token: str, now: datetime
) -> PaymentMethod:
    """The sandbox's stand-in for Elements: the chosen test token becomes the default."""
    try:
        method = await attach_method(
            session,
            ctx,
            merchant_id=payer.merchant_id,
            customer_id=payer.customer_id,
            token=token,
            set_default=True,
            now=now,
        )
    except InvalidRequest as exc:
        raise ValidationFailed("token", str(exc)) from exc
    await use_for_subscriptions(session, payer.merchant_id, payer.customer_id, method.id)
    return method


async def set_default(session: AsyncSession, payer: Payer, method_id: str) -> PaymentMethod:
    method = await get_method(session, payer, method_id)
    if method.type != "card":
        raise ValidationFailed("payment_method_id", "only a card can be the default method")
    await session.execute(
        update(PaymentMethod)
        .where(
            PaymentMethod.merchant_id == payer.merchant_id,
            PaymentMethod.customer_id == payer.customer_id,
        )
        .values(is_default=False)
    )
    method.is_default = True
    await use_for_subscriptions(session, payer.merchant_id, payer.customer_id, method.id)
    await session.flush()
    return method


async def remove_method(
    session: AsyncSession, ctx: JobContext, payer: Payer, method_id: str, *, now: datetime
) -> PaymentMethod:
    await get_method(session, payer, method_id)  # another payer's: 404
    return await detach_method(
        session,
        ctx,
        merchant_id=payer.merchant_id,
        customer_id=payer.customer_id,
        method_id=method_id,
        now=now,
    )
