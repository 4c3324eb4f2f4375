"""Step 3 of a charge: record what the gateway said, in a transaction of its own.

Used by the charge itself, by recovery (``find_charge``), by the sandbox's simulate_payment
and by incoming gateway webhooks (issue 6): all of them lock the invoice and go through the
attempt transition table, so whichever arrives second changes nothing.

``record_outcomes`` takes a batch (the charging sweep records a hundred outcomes in one
transaction of a few statements); ``record_outcome`` is the batch of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.gateways import ChargeResult
from billing.invoices.settlement import (
    mark_past_due,
    open_invoices_of,
    reactivate_subscription,
    settle_invoice,
)
from billing.invoices.state import COLLECTIBLE
from billing.kit.errors import NotFound
from billing.models import Invoice, PaymentAttempt, PaymentMethod, Subscription
from billing.payments.retries import RetryContext, load_retry_context
from billing.payments.state import ATTEMPT

log = structlog.get_logger("billing.payments")
NOT_SUBMITTED = "not_submitted"
# A pending charge the payer replaced by paying another way (payments.service): closed at
# the gateway, not the payer's failure.
REPLACED = "replaced"


@dataclass
class _Batch:
    invoices: dict[str, Invoice]
    subscriptions: dict[str, Subscription]
    open_by_subscription: dict[str, set[str]] = field(default_factory=dict)
    retries: RetryContext = field(default_factory=lambda: RetryContext({}, {}))
    disable: dict[str, str] = field(default_factory=dict)  # payment method id -> reason


async def record_outcome(
    session: AsyncSession, *, attempt_id: str, result: ChargeResult, now: datetime
) -> PaymentAttempt:
    [attempt] = await record_outcomes(session, [(attempt_id, result)], now=now)
    return attempt


async def record_outcomes(
    session: AsyncSession, outcomes: Sequence[tuple[str, ChargeResult]], *, now: datetime
) -> list[PaymentAttempt]:
    ids = [attempt_id for attempt_id, _ in outcomes]
    # Invoice locks first, in id order: every writer of an invoice's payments takes it, and
    # a fixed order keeps two batches from deadlocking.
    invoice_ids = select(PaymentAttempt.invoice_id).where(PaymentAttempt.id.in_(ids))
    invoices = await session.scalars(
        select(Invoice)
        .where(Invoice.id.in_(invoice_ids))
        .order_by(Invoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    batch = _Batch({i.id: i for i in invoices}, {})
    attempts = {
        a.id: a
        for a in await session.scalars(
            select(PaymentAttempt)
            .where(PaymentAttempt.id.in_(ids))
            .execution_options(populate_existing=True)
        )
    }
    missing = set(ids) - attempts.keys()
    if missing:
        raise NotFound(f"No payment {sorted(missing)[0]}")
    await _load_context(session, batch, [(attempts[i], r) for i, r in outcomes])
    recorded = []
    for attempt_id, result in outcomes:
        attempt = attempts[attempt_id]
        await _apply(session, batch, attempt, result, now)
        recorded.append(attempt)
    if batch.disable:
        for method_id, reason in batch.disable.items():
            await session.execute(
                update(PaymentMethod)
                .where(PaymentMethod.id == method_id)
                .values(disabled_reason=reason)
            )
    await session.flush()  # the partial unique index refuses a second success here
    return recorded


async def _load_context(
    session: AsyncSession,
    batch: _Batch,
    pairs: Sequence[tuple[PaymentAttempt, ChargeResult]],
) -> None:
    """Everything the outcomes need, in a few set-based queries."""
    changing = [(a, r) for a, r in pairs if _changes(a, r)]
    sub_ids = sorted(
        {
            inv.subscription_id
            for a, _ in changing
            if (inv := batch.invoices[a.invoice_id]).subscription_id
        }
    )
    if sub_ids:
        subs = await session.scalars(
            select(Subscription)
            .where(Subscription.id.in_(sub_ids))
            .order_by(Subscription.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        batch.subscriptions = {s.id: s for s in subs}
    reactivating = [
        s.id
        for s in batch.subscriptions.values()
        if s.status in ("past_due", "unpaid") and any(r.status == "succeeded" for _, r in changing)
    ]
    batch.open_by_subscription = await open_invoices_of(session, reactivating)
    failing = [a for a, r in changing if r.status in ("failed", "requires_action")]
    if failing:
        # Loaded before any attempt of the batch changes; the dunning policy decides.
        batch.retries = await load_retry_context(session, failing)


def _changes(attempt: PaymentAttempt, result: ChargeResult) -> bool:
    return result.status not in (attempt.status, "processing") and attempt.status not in (
        "succeeded",
        "failed",
    )


async def _apply(
    session: AsyncSession,
    batch: _Batch,
    attempt: PaymentAttempt,
    result: ChargeResult,
    now: datetime,
) -> None:
    _note_gateway_data(attempt, result)
    if not _changes(attempt, result):
        # A repeat (recovery after the charge recorded it, a webhook after us, ...) or a
        # Pix / boleto issued that the payer pays later.
        return
    invoice = batch.invoices[attempt.invoice_id]
    previous = attempt.status
    attempt.status = ATTEMPT.check(previous, result.status)
    if result.status == "succeeded":
        await _succeeded(session, batch, attempt, invoice, now)
    elif result.status == "failed":
        # A 3-D Secure attempt that then fails was already counted as a failure.
        counted = previous != "processing"
        await _failed(session, batch, attempt, invoice, result, now, counted=counted)
    else:
        await _requires_action(session, batch, attempt, invoice, result, now)


def _note_gateway_data(attempt: PaymentAttempt, result: ChargeResult) -> None:
    if result.gateway_ref and not attempt.gateway_ref:
        attempt.gateway_ref = result.gateway_ref
    extra: dict[str, Any] = {}
    if result.pix is not None:
        extra["pix"] = {
            "copy_paste": result.pix.copy_paste,
            "expires_at": result.pix.expires_at.isoformat(),
        }
    if result.boleto is not None:
        boleto = asdict(result.boleto)
        boleto["due_date"] = result.boleto.due_date.isoformat()
        extra["boleto"] = boleto
    if extra:
        attempt.details = {**(attempt.details or {}), **extra}


async def _succeeded(
    session: AsyncSession,
    batch: _Batch,
    attempt: PaymentAttempt,
    invoice: Invoice,
    now: datetime,
) -> None:
    attempt.completed_at = now
    attempt.failure_code = attempt.decline_code = attempt.decline_type = None
    attempt.next_action_url = None
    details = attempt.details or {}
    if invoice.status not in COLLECTIBLE:
        # Money arrived for an invoice that was voided meanwhile: keep the fact for an
        # operator (refund), never overwrite the invoice's final status.
        attempt.details = {**details, "invoice_status_at_success": invoice.status}
        log.warning("payment_for_closed_invoice", invoice_id=invoice.id, payment_id=attempt.id)
        return
    await settle_invoice(
        session,
        invoice,
        amount=attempt.amount,
        late_fee=int(details.get("late_fee", 0)),
        interest=int(details.get("interest", 0)),
        payment_id=attempt.id,
        now=now,
    )
    subscription = batch.subscriptions.get(invoice.subscription_id or "")
    if subscription is None:
        return
    still_open = batch.open_by_subscription.get(subscription.id, set())
    still_open.discard(invoice.id)
    if not still_open:
        await reactivate_subscription(session, subscription, invoice_id=invoice.id, now=now)


async def _failed(
    session: AsyncSession,
    batch: _Batch,
    attempt: PaymentAttempt,
    invoice: Invoice,
    result: ChargeResult,
    now: datetime,
    *,
    counted: bool,
) -> None:
    attempt.completed_at = now
    attempt.failure_code = result.failure_code or "card_declined"
    attempt.decline_code = result.decline_code
    attempt.decline_type = result.decline_type
    attempt.failure_message = (result.message or "")[:500] or None
    attempt.next_action_url = None
    if result.decline_type == "hard" and attempt.payment_method_id:
        # Never retried on this method again; the payer is asked for a new one.
        batch.disable[attempt.payment_method_id] = result.decline_code or attempt.failure_code
    if invoice.status not in COLLECTIBLE or counted or attempt.failure_code == REPLACED:
        return
    if attempt.failure_code == NOT_SUBMITTED:
        # Recovery found the charge never reached the gateway: not the payer's failure,
        # so charge again at the next sweep (with a new attempt and key).
        invoice.next_payment_attempt = now
        return
    invoice.attempt_count += 1
    invoice.next_payment_attempt = batch.retries.next_attempt(invoice, attempt)
    await record_event(
        session,
        invoice.merchant_id,
        "invoice.payment_failed",
        {
            "invoice_id": invoice.id,
            "customer_id": invoice.customer_id,
            "subscription_id": invoice.subscription_id,
            "payment_id": attempt.id,
            "failure_code": attempt.failure_code,
            "decline_code": attempt.decline_code,
            "decline_type": attempt.decline_type,
            "attempt_count": invoice.attempt_count,
            "next_payment_attempt": _iso(invoice.next_payment_attempt),
        },
        now=now,
        flush=False,
    )
    await _past_due(session, batch, invoice, now)


async def _requires_action(
    session: AsyncSession,
    batch: _Batch,
    attempt: PaymentAttempt,
    invoice: Invoice,
    result: ChargeResult,
    now: datetime,
) -> None:
    attempt.failure_code = result.failure_code or "authentication_required"
    attempt.decline_code = result.decline_code
    attempt.decline_type = result.decline_type or "authentication_required"
    attempt.failure_message = (result.message or "")[:500] or None
    attempt.next_action_url = result.next_action_url
    if invoice.status not in COLLECTIBLE:
        return
    invoice.attempt_count += 1
    # Automatic: no retry, the payer confirms. Payer/merchant: the schedule stands.
    invoice.next_payment_attempt = batch.retries.next_attempt(invoice, attempt)
    await record_event(
        session,
        invoice.merchant_id,
        "invoice.payment_action_required",
        {
            "invoice_id": invoice.id,
            "customer_id": invoice.customer_id,
            "payment_id": attempt.id,
            "next_action_url": attempt.next_action_url,
        },
        now=now,
        flush=False,
    )
    await _past_due(session, batch, invoice, now)


async def _past_due(session: AsyncSession, batch: _Batch, invoice: Invoice, now: datetime) -> None:
    subscription = batch.subscriptions.get(invoice.subscription_id or "")
    if subscription is not None:
        await mark_past_due(session, subscription, invoice_id=invoice.id, now=now)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
