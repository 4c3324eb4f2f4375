"""What each Stripe event type does to our state.

Every handler is idempotent by state and tolerates any order: it reads our rows, moves
them only forward (through the payments engineer's ``record_outcome`` and its transition
table), and, where an event's snapshot may be older than the truth, asks the gateway.
A handler returns a short outcome for the inbox row, or ``None`` for "ignored".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.gateways import (
    ChargeResult,
    Gateway,
    GatewayError,
    InvalidRequest,
    InvalidToken,
    PaymentMethodDeclined,
)
from billing.gateways.stripe_mapping import (
    ATTEMPT_KEY,
    CUSTOMER_KEY,
    MERCHANT_KEY,
    charge_result,
    object_id,
)
from billing.models import Customer, PaymentAttempt, PaymentMethod
from billing.payments.card_setups import save_confirmed_card

GatewayGetter = Callable[[], Awaitable[Gateway | None]]


@dataclass
class HandlerContext:
    session: AsyncSession
    merchant_id: str
    now: datetime
    gateway: GatewayGetter
    event: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def object(self) -> dict[str, Any]:
        data = self.event.get("data") or {}
        obj = data.get("object") if isinstance(data, dict) else None
        return obj if isinstance(obj, dict) else {}


Handler = Callable[[HandlerContext], Awaitable[str | None]]
HANDLERS: dict[str, Handler] = {}
# Event types whose handler may call the gateway (an HTTP round trip), declared with the
# handler: the inbox applies them one per transaction, outside the batch (processing.py).
ASKS_GATEWAY: set[str] = set()


def handles(*types: str, asks_gateway: bool = False) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        for name in types:
            HANDLERS[name] = func
            if asks_gateway:
                ASKS_GATEWAY.add(name)
        return func

    return register


async def _attempt_for_intent(ctx: HandlerContext, intent: dict[str, Any]) -> PaymentAttempt | None:
    """Our attempt behind a PaymentIntent: by its id, or by the key we put in its metadata
    (the webhook can beat the commit that records the gateway reference)."""
    ref = intent.get("id")
    key = (intent.get("metadata") or {}).get(ATTEMPT_KEY)
    found: PaymentAttempt | None = None
    if isinstance(key, str) and key:
        # The unique index on the key makes this the cheap lookup; try it first.
        found = await ctx.session.scalar(
            select(PaymentAttempt).where(
                PaymentAttempt.merchant_id == ctx.merchant_id,
                PaymentAttempt.idempotency_key == key,
            )
        )
    if found is None and isinstance(ref, str) and ref:
        found = await ctx.session.scalar(
            select(PaymentAttempt)
            .where(PaymentAttempt.merchant_id == ctx.merchant_id, PaymentAttempt.gateway_ref == ref)
            .limit(1)
        )
    return found


async def _current_from_gateway(
    ctx: HandlerContext, attempt: PaymentAttempt
) -> ChargeResult | None:
    gateway = await ctx.gateway()
    if gateway is None:
        return None
    customer_ref = await ctx.session.scalar(
        select(Customer.gateway_customer_ref).where(
            Customer.id == attempt.customer_id, Customer.merchant_id == ctx.merchant_id
        )
    )
    if not customer_ref:
        return None
    return await gateway.find_charge(
        idempotency_key=attempt.idempotency_key, gateway_customer=customer_ref
    )


@handles("payment_intent.succeeded")  # a success is final: the gateway is not asked
@handles(
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "payment_intent.processing",
    asks_gateway=True,
)
async def payment_intent(ctx: HandlerContext) -> str | None:
    from billing.payments.outcomes import record_outcome

    attempt = await _attempt_for_intent(ctx, ctx.object)
    if attempt is None:
        return "no payment attempt of ours"
    before = attempt.status
    if before in ("succeeded", "failed"):
        return f"attempt {attempt.id} already {before}"
    result = charge_result(ctx.object)
    if result.status != "succeeded":
        # A success is final at the gateway; anything else may already be out of date
        # (events arrive in any order), so the gateway's current state decides.
        current = await _current_from_gateway(ctx, attempt)
        if current is not None:
            result = current
    updated = await record_outcome(ctx.session, attempt_id=attempt.id, result=result, now=ctx.now)
    return f"attempt {attempt.id}: {before} -> {updated.status}"


def _payment_intent_ref(charge: dict[str, Any]) -> dict[str, Any]:
    ref = charge.get("payment_intent")
    if isinstance(ref, dict):
        return ref
    return {"id": ref, "metadata": charge.get("metadata") or {}}


@handles("charge.refunded")
async def charge_refunded(ctx: HandlerContext) -> str | None:
    charge = ctx.object
    attempt = await _attempt_for_intent(ctx, _payment_intent_ref(charge))
    if attempt is None:
        return "no payment attempt of ours"
    await record_event(
        ctx.session,
        ctx.merchant_id,
        "payment.refunded",
        {
            "payment_id": attempt.id,
            "invoice_id": attempt.invoice_id,
            "amount_refunded": int(charge.get("amount_refunded") or 0),
            "currency": str(charge.get("currency") or attempt.currency).upper(),
            "fully_refunded": bool(charge.get("refunded")),
            "gateway_event_id": ctx.event.get("id"),
        },
        now=ctx.now,
    )
    return f"refund recorded for {attempt.id}"


@handles("charge.dispute.created")
async def dispute_created(ctx: HandlerContext) -> str | None:
    dispute = ctx.object
    charge = dispute.get("charge")
    # The dispute names its PaymentIntent, or its charge does (expanded or not).
    source = charge if isinstance(charge, dict) else dispute
    if dispute.get("payment_intent"):
        source = {"payment_intent": dispute["payment_intent"], "metadata": dispute.get("metadata")}
    attempt = await _attempt_for_intent(ctx, _payment_intent_ref(source))
    if attempt is None:
        return "no payment attempt of ours"
    await record_event(
        ctx.session,
        ctx.merchant_id,
        "payment.disputed",
        {
            "payment_id": attempt.id,
            "invoice_id": attempt.invoice_id,
            "amount": int(dispute.get("amount") or attempt.amount),
            "currency": str(dispute.get("currency") or attempt.currency).upper(),
            "reason": dispute.get("reason"),
            "gateway_dispute_id": dispute.get("id"),
        },
        now=ctx.now,
    )
    return f"dispute recorded for {attempt.id}"


async def _customer_by_ref(ctx: HandlerContext, ref: Any) -> Customer | None:
    if not isinstance(ref, str) or not ref:
        return None
    found: Customer | None = await ctx.session.scalar(
        select(Customer).where(
            Customer.merchant_id == ctx.merchant_id, Customer.gateway_customer_ref == ref
        )
    )
    return found


async def _method_by_ref(ctx: HandlerContext, ref: Any) -> PaymentMethod | None:
    if not isinstance(ref, str) or not ref:
        return None
    found: PaymentMethod | None = await ctx.session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.merchant_id == ctx.merchant_id, PaymentMethod.gateway_ref == ref
        )
    )
    return found


@handles("payment_method.attached")
async def method_attached(ctx: HandlerContext) -> str | None:
    obj = ctx.object
    return await _report_method(ctx, obj.get("customer"), obj.get("id"))


async def _report_method(ctx: HandlerContext, customer_ref: Any, pm_ref: Any) -> str | None:
    customer = await _customer_by_ref(ctx, customer_ref)
    if customer is None:
        return "no customer of ours"
    if await _method_by_ref(ctx, pm_ref) is not None:
        return "payment method already known"
    # Saving a method someone else set up (the merchant's own integration, the Dashboard) is
    # the customer's own API call; here the merchant learns it was added at the gateway.
    await record_event(
        ctx.session,
        ctx.merchant_id,
        "customer.payment_method_added",
        {"customer_id": customer.id, "gateway_payment_method": pm_ref},
        now=ctx.now,
    )
    return f"payment method {pm_ref} reported for {customer.id}"


async def _portal_payer(ctx: HandlerContext, setup: dict[str, Any]) -> Customer | None:
    """The payer a SetupIntent of ours was made for: our merchant and customer ids in its
    metadata (``StripeGateway.start_method_change``), this endpoint's merchant, and the
    SetupIntent's own Stripe customer being that payer's. Anything else is not ours."""
    meta = setup.get("metadata") or {}
    customer_id = meta.get(CUSTOMER_KEY) if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or meta.get(MERCHANT_KEY) != ctx.merchant_id:
        return None
    if not isinstance(customer_id, str) or not customer_id:
        return None
    customer: Customer | None = await ctx.session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.merchant_id == ctx.merchant_id)
    )
    ref = object_id(setup.get("customer"))
    if customer is None or ref is None or customer.gateway_customer_ref != ref:
        return None
    return customer


@handles("setup_intent.succeeded", asks_gateway=True)
async def setup_succeeded(ctx: HandlerContext) -> str | None:
    """A card a portal payer confirmed: saved here too, for when the browser closed before
    posting the completion; the portal's POST and this meet in ``save_confirmed_card``."""
    setup = ctx.object
    pm_ref = object_id(setup.get("payment_method"))
    payer = await _portal_payer(ctx, setup)
    if payer is None or pm_ref is None or setup.get("status", "succeeded") != "succeeded":
        return await _report_method(ctx, object_id(setup.get("customer")), pm_ref)
    assert payer.gateway_customer_ref is not None  # matched against the SetupIntent's
    rows = (
        await ctx.session.scalars(
            select(PaymentMethod).where(
                PaymentMethod.merchant_id == ctx.merchant_id,
                PaymentMethod.customer_id == payer.id,
                PaymentMethod.gateway_ref == pm_ref,
            )
        )
    ).all()
    if any(row.detached_at is None for row in rows):
        return "payment method already known"
    if rows:
        return "payment method removed since: not saved again"
    gateway = await ctx.gateway()
    if gateway is None:
        # Retried (and visible as failed) until the merchant's gateway is configured again.
        raise GatewayError("the merchant has no gateway configured to read the card from")
    try:
        # Stripe attached it at confirmation; this reads the card's details (and checks the
        # method is that customer's), like the portal's completion does.
        info = await gateway.attach_payment_method(
            gateway_customer=payer.gateway_customer_ref, token=pm_ref
        )
    except (InvalidRequest, InvalidToken, PaymentMethodDeclined) as exc:
        return f"payment method {pm_ref} not saved: {exc}"[:300]
    method, created = await save_confirmed_card(
        ctx.session,
        merchant_id=ctx.merchant_id,
        customer_id=payer.id,
        gateway_customer=payer.gateway_customer_ref,
        info=info,
        now=ctx.now,
    )
    if not created:
        return "payment method already known"
    return f"card {method.id} saved for {payer.id}"


@handles("payment_method.detached")
async def method_detached(ctx: HandlerContext) -> str | None:
    method = await _method_by_ref(ctx, ctx.object.get("id"))
    if method is None:
        return "no payment method of ours"
    if method.detached_at is not None:
        return "already detached"
    await ctx.session.execute(
        update(PaymentMethod)
        .where(PaymentMethod.id == method.id, PaymentMethod.detached_at.is_(None))
        .values(detached_at=ctx.now, is_default=False)
    )
    await record_event(
        ctx.session,
        ctx.merchant_id,
        "customer.payment_method_detached",
        {"customer_id": method.customer_id, "payment_method_id": method.id},
        now=ctx.now,
    )
    return f"{method.id} detached"


@handles("payment_method.automatically_updated")
async def method_updated(ctx: HandlerContext) -> str | None:
    method = await _method_by_ref(ctx, ctx.object.get("id"))
    if method is None:
        return "no payment method of ours"
    card = ctx.object.get("card") or {}
    values = {
        "brand": card.get("brand") or method.brand,
        "last4": card.get("last4") or method.last4,
        "exp_month": card.get("exp_month") or method.exp_month,
        "exp_year": card.get("exp_year") or method.exp_year,
    }
    # The card updater replaced an expired card: it may be charged again.
    if method.disabled_reason in ("expired_card", "card_expired"):
        values["disabled_reason"] = None
    await ctx.session.execute(
        update(PaymentMethod).where(PaymentMethod.id == method.id).values(**values)
    )
    return f"{method.id} card details updated"


@handles("customer.source.expiring")
async def source_expiring(ctx: HandlerContext) -> str | None:
    source = ctx.object
    customer = await _customer_by_ref(ctx, source.get("customer"))
    if customer is None:
        return "no customer of ours"
    await record_event(
        ctx.session,
        ctx.merchant_id,
        "customer.payment_method_expiring",
        {
            "customer_id": customer.id,
            "last4": source.get("last4"),
            "exp_month": source.get("exp_month"),
            "exp_year": source.get("exp_year"),
        },
        now=ctx.now,
    )
    return f"expiring card reported for {customer.id}"
