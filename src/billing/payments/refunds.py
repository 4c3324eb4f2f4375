"""Refunding a succeeded payment through its gateway, with a key built from our ids."""

from __future__ import annotations

from sqlalchemy import select

from billing.db import unit_of_work
from billing.gateways import RefundResult
from billing.jobs import JobContext
from billing.kit.errors import NotFound, ValidationFailed
from billing.models import PaymentAttempt
from billing.payments.errors import PaymentNotPossible
from billing.payments.gateway_registry import merchant_gateway


async def refund_payment(
    ctx: JobContext, *, merchant_id: str, payment_id: str, amount: int | None = None
) -> RefundResult:
    """Refund ``amount`` (None = what is left) of a succeeded payment.

    The key counts the refunds already recorded on the payment, so repeating a call whose
    answer was lost reuses the key and the gateway returns the first refund.
    """
    async with unit_of_work(ctx.session_factory) as session:
        attempt = await session.scalar(
            select(PaymentAttempt).where(
                PaymentAttempt.id == payment_id, PaymentAttempt.merchant_id == merchant_id
            )
        )
        if attempt is None:
            raise NotFound(f"No payment {payment_id}")
        if attempt.status != "succeeded" or attempt.gateway_ref is None:
            raise PaymentNotPossible(
                "Only a succeeded payment can be refunded.", code="not_refundable"
            )
        refunds = list((attempt.details or {}).get("refunds", []))
        left = attempt.amount - sum(r["amount"] for r in refunds)
        value = left if amount is None else amount
        if not 0 < value <= left:
            raise ValidationFailed("amount", f"must be between 1 and {left}")
        gateway, _ = await merchant_gateway(session, ctx, merchant_id)
        gateway_ref = attempt.gateway_ref
    key = f"billing:refund:{payment_id}:{len(refunds) + 1}"
    result = await gateway.refund(gateway_ref=gateway_ref, amount=value, idempotency_key=key)
    async with unit_of_work(ctx.session_factory) as session:
        row = await session.get(PaymentAttempt, payment_id, with_for_update=True)
        assert row is not None
        details = dict(row.details or {})
        details["refunds"] = [
            *details.get("refunds", []),
            {"ref": result.gateway_ref, "amount": value, "status": result.status, "key": key},
        ]
        row.details = details
    return result
