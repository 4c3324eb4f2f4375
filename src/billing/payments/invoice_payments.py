"""Paying an invoice through the API, listing its attempts, and the sandbox's helper."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.gateways import InvalidRequest
from billing.invoices.repository import get_invoice, invoice_view
from billing.invoices.schemas import InvoiceOut
from billing.jobs import JobContext
from billing.kit.errors import NotFound
from billing.kit.pagination import fetch_page
from billing.models import PaymentAttempt
from billing.payments.attempts import SkipReason
from billing.payments.errors import CardDeclined, PaymentNotPossible
from billing.payments.gateway_registry import merchant_gateway
from billing.payments.service import attempt_charge, record_result

_SKIPPED: dict[SkipReason, tuple[str, str]] = {
    "already_paid": ("invoice_paid", "The invoice is already paid."),
    "not_collectible": ("invalid_state_transition", "Only an open invoice can be paid."),
    "in_progress": ("payment_in_progress", "A payment of this invoice is already in progress."),
    "requires_action": ("payment_requires_action", "A payment awaits the payer's authentication."),
    "no_payment_method": ("no_payment_method", "The customer has no usable payment method."),
    "nothing_due": ("nothing_due", "Nothing is due on this invoice."),
}


async def pay_invoice(
    session: AsyncSession,
    ctx: JobContext,
    *,
    merchant_id: str,
    invoice_id: str,
    payment_method_id: str | None,
    initiated_by: str = "merchant",
) -> InvoiceOut:
    """One attempt now; the invoice after it, or 402 ``card_declined`` on a decline.

    The charge runs its own units of work (invariant 3), so the request's transaction is
    ended first: nothing has been written in it yet.
    """
    await get_invoice(session, merchant_id, invoice_id)  # 404 before anything else
    await session.commit()
    outcome = await attempt_charge(
        ctx,
        merchant_id=merchant_id,
        invoice_id=invoice_id,
        payment_method_id=payment_method_id,
        initiated_by=initiated_by,
    )
    if outcome.skipped is not None:
        code, detail = _SKIPPED[outcome.skipped]
        raise PaymentNotPossible(detail, code=code)
    attempt = outcome.attempt
    assert attempt is not None
    if attempt.status in ("failed", "requires_action"):
        raise CardDeclined(
            attempt.failure_message or "The payment was declined.",
            decline_code=attempt.decline_code,
            decline_type=attempt.decline_type,
            failure_code=attempt.failure_code,
            payment_id=attempt.id,
            next_action_url=attempt.next_action_url,
        )
    return await invoice_view(session, merchant_id, invoice_id, now=ctx.clock.now())


async def list_payments(
    session: AsyncSession,
    merchant_id: str,
    *,
    invoice_id: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[Sequence[PaymentAttempt], bool]:
    query = select(PaymentAttempt).where(PaymentAttempt.merchant_id == merchant_id)
    if invoice_id is not None:
        await get_invoice(session, merchant_id, invoice_id)  # another merchant's: 404
        query = query.where(PaymentAttempt.invoice_id == invoice_id)
    return await fetch_page(
        session, query, PaymentAttempt.id, limit=limit, starting_after=starting_after
    )


async def simulate_payment(
    session: AsyncSession, ctx: JobContext, *, merchant_id: str, invoice_id: str, now: datetime
) -> InvoiceOut:
    """Sandbox only: the payer pays the pending Pix or boleto of this invoice."""
    await get_invoice(session, merchant_id, invoice_id)
    attempt = await session.scalar(
        select(PaymentAttempt)
        .where(
            PaymentAttempt.merchant_id == merchant_id,
            PaymentAttempt.invoice_id == invoice_id,
            PaymentAttempt.status == "processing",
            PaymentAttempt.gateway_ref.is_not(None),
        )
        .order_by(PaymentAttempt.attempt_number.desc())
        .limit(1)
    )
    if attempt is None or attempt.gateway_ref is None:
        raise NotFound("This invoice has no pending Pix or boleto payment.")
    gateway, config = await merchant_gateway(session, ctx, merchant_id)
    if config.provider != "sandbox":
        raise NotFound("Test helpers only exist for the sandbox gateway.")
    await session.commit()  # the sandbox ledger and the outcome write on their own
    try:
        result = await gateway.simulate_payment(attempt.gateway_ref)  # type: ignore[attr-defined]
    except InvalidRequest as exc:
        raise PaymentNotPossible(str(exc), code="invalid_state_transition") from exc
    await record_result(ctx, attempt.id, result)
    return await invoice_view(session, merchant_id, invoice_id, now=now)
