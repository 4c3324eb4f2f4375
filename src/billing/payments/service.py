"""Charging an invoice, at most once (invariant 3).

    1. one unit of work: lock the invoice, re-check it, INSERT the attempt ``processing``
       with key ``billing:charge:{invoice}:{n}``, COMMIT;
    2. call the gateway with that key, holding no transaction and no lock;
    3. another unit of work: record the outcome (``outcomes.record_outcome``).

Unlike other services, these functions open their own units of work: the attempt must be
committed before the gateway call, and no database transaction may be held across a
network call. Call them with no write transaction of your own open (on SQLite an open
write transaction in another connection would block step 1).

A crash or an unknown outcome between 2 and 3 leaves the attempt ``processing`` with no
gateway reference; ``recover_stuck_attempts`` asks the gateway with the same key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import structlog
from sqlalchemy import and_, or_, select

from billing.db import unit_of_work
from billing.gateways import (
    ChargeResult,
    Gateway,
    GatewayError,
    InvalidRequest,
    InvalidToken,
)
from billing.jobs import JobContext
from billing.models import Customer, PaymentAttempt, PaymentMethod
from billing.payments.attempts import (
    EXPLICIT,
    PreparedCharge,
    Skipped,
    SkipReason,
    begin_attempt,
)
from billing.payments.gateway_registry import (
    config_from_stored,
    gateway_for,
    merchant_gateway,
    secret_box,
)
from billing.payments.outcomes import NOT_SUBMITTED, REPLACED, record_outcome

log = structlog.get_logger("billing.payments")

# Older than this, a processing attempt without a gateway answer is taken as interrupted
# (the gateway adapters time out well before).
STUCK_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class ChargeOutcome:
    attempt: PaymentAttempt | None
    skipped: SkipReason | None = None


async def charge_invoice(
    ctx: JobContext,
    *,
    merchant_id: str,
    invoice_id: str,
    payment_method_id: str | None = None,
    initiated_by: str = "automatic",
) -> PaymentAttempt | None:
    """Charge what the invoice owes now; None when there was nothing to charge.

    ``initiated_by``: automatic (billing run) | retry | payer (portal) | merchant (API).
    Raises NotFound for another merchant's invoice or an unknown payment method.
    """
    outcome = await attempt_charge(
        ctx,
        merchant_id=merchant_id,
        invoice_id=invoice_id,
        payment_method_id=payment_method_id,
        initiated_by=initiated_by,
    )
    return outcome.attempt


async def attempt_charge(
    ctx: JobContext,
    *,
    merchant_id: str,
    invoice_id: str,
    payment_method_id: str | None = None,
    initiated_by: str = "automatic",
) -> ChargeOutcome:
    """``charge_invoice`` that also says why nothing was charged."""
    if initiated_by in EXPLICIT:
        blocked = await _close_replaceable_charges(ctx, merchant_id, invoice_id)
        if blocked is not None:
            return ChargeOutcome(None, blocked)
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        prepared = await begin_attempt(
            session,
            merchant_id=merchant_id,
            invoice_id=invoice_id,
            payment_method_id=payment_method_id,
            initiated_by=initiated_by,
            now=ctx.clock.now(),
        )
    if isinstance(prepared, Skipped):
        return ChargeOutcome(None, prepared.reason)
    config = config_from_stored(prepared.gateway_settings, secret_box(ctx), ctx.settings.gateway)
    gateway = gateway_for(ctx, merchant_id, config)
    result = await call_gateway(gateway, prepared)
    if result is None:
        return ChargeOutcome(prepared.attempt)  # outcome unknown: left to recovery
    return ChargeOutcome(await record_result(ctx, prepared.attempt.id, result))


async def _close_replaceable_charges(
    ctx: JobContext, merchant_id: str, invoice_id: str
) -> SkipReason | None:
    """A new payment by the payer (or merchant) replaces one still waiting on the payer: a
    3-D Secure step, or a Pix code not paid yet. Each is canceled at the gateway first, so
    the payer cannot complete both and pay twice; one the payer already completed is
    recorded (the invoice is paid) and nothing new is charged. A pending boleto is not
    replaced: it may be paid at a bank already and clear days later.

    Returns why nothing may be charged now (the gateway could not be asked, or a Pix could
    not be canceled), or None.
    """
    async with unit_of_work(ctx.session_factory) as session:
        waiting = (
            await session.execute(
                select(PaymentAttempt.id, PaymentAttempt.gateway_ref, PaymentAttempt.status)
                .outerjoin(PaymentMethod, PaymentMethod.id == PaymentAttempt.payment_method_id)
                .where(
                    PaymentAttempt.merchant_id == merchant_id,
                    PaymentAttempt.invoice_id == invoice_id,
                    PaymentAttempt.gateway_ref.is_not(None),
                    or_(
                        PaymentAttempt.status == "requires_action",
                        and_(PaymentAttempt.status == "processing", PaymentMethod.type == "pix"),
                    ),
                )
            )
        ).all()
        if not waiting:
            return None
        gateway, _ = await merchant_gateway(session, ctx, merchant_id)
    for attempt_id, gateway_ref, status in waiting:
        reason: SkipReason = "requires_action" if status == "requires_action" else "in_progress"
        try:
            result = await gateway.cancel_charge(gateway_ref=str(gateway_ref))
        except GatewayError as exc:
            log.warning("cancel_outcome_unknown", payment_id=attempt_id, error=str(exc))
            return reason
        if result.status == "succeeded":
            await record_result(ctx, attempt_id, result)
        elif status == "processing":
            if result.status != "failed":
                return reason  # still payable at the gateway: charging now could pay twice
            # Closed, not failed: the payer chose another way to pay.
            replaced = replace(result, failure_code=REPLACED, decline_code=None,
                               decline_type=None)  # fmt: skip
            await record_result(ctx, attempt_id, replaced)
    return None


async def call_gateway(gateway: Gateway, prepared: PreparedCharge) -> ChargeResult | None:
    request = prepared.request
    try:
        if prepared.method_type == "pix":
            return await gateway.create_pix(request)
        if prepared.method_type == "boleto":
            return await gateway.create_boleto(request, prepared.boleto_due)
        return await gateway.charge(request=request)
    except (InvalidToken, InvalidRequest) as exc:
        # The gateway refused the request itself: nothing was charged.
        log.warning("charge_refused", payment_id=prepared.attempt.id, error=str(exc))
        return ChargeResult(
            status="failed",
            failure_code="invalid_payment_method"
            if isinstance(exc, InvalidToken)
            else ("invalid_request"),
            decline_type="hard" if isinstance(exc, InvalidToken) else None,
            message=str(exc),
        )
    except GatewayError as exc:  # GatewayUnavailable and anything we cannot interpret
        log.warning("charge_outcome_unknown", payment_id=prepared.attempt.id, error=str(exc))
        return None


async def record_result(ctx: JobContext, attempt_id: str, result: ChargeResult) -> PaymentAttempt:
    """Step 3 in its own unit of work."""
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        return await record_outcome(
            session, attempt_id=attempt_id, result=result, now=ctx.clock.now()
        )


async def recover_attempt(ctx: JobContext, attempt_id: str) -> PaymentAttempt | None:
    """Ask the gateway what happened to an interrupted attempt; never charge again.

    A key the gateway has never seen means the request never reached it: the attempt is
    failed as ``not_submitted`` and the invoice's schedule decides about a new attempt.
    """
    async with unit_of_work(ctx.session_factory) as session:
        row = (
            await session.execute(
                select(PaymentAttempt, Customer.gateway_customer_ref)
                .join(Customer, Customer.id == PaymentAttempt.customer_id)
                .where(PaymentAttempt.id == attempt_id)
            )
        ).first()
        if row is None:
            return None
        attempt, gateway_customer = row[0], row[1]
        if attempt.status != "processing" or attempt.gateway_ref is not None:
            return attempt
        gateway, _ = await merchant_gateway(session, ctx, attempt.merchant_id)
    try:
        found = await gateway.find_charge(
            idempotency_key=attempt.idempotency_key, gateway_customer=gateway_customer or ""
        )
    except GatewayError as exc:
        log.warning("recovery_deferred", payment_id=attempt_id, error=str(exc))
        return attempt
    if found is None:
        found = ChargeResult(
            status="failed",
            failure_code=NOT_SUBMITTED,
            message="The charge never reached the gateway; nothing was captured.",
        )
    return await record_result(ctx, attempt_id, found)


async def stuck_attempt_ids(ctx: JobContext, *, limit: int = 100) -> list[str]:
    async with unit_of_work(ctx.session_factory) as session:
        await ctx.clock.sync(session)
        cutoff = ctx.clock.now() - STUCK_AFTER
        rows = await session.scalars(
            select(PaymentAttempt.id)
            .where(
                PaymentAttempt.status == "processing",
                PaymentAttempt.gateway_ref.is_(None),
                PaymentAttempt.attempted_at < cutoff,
            )
            .order_by(PaymentAttempt.attempted_at)
            .limit(limit)
        )
        return list(rows)
