"""A card the payer confirmed at the gateway (a Stripe SetupIntent), saved on our side.

Two reports of one confirmation arrive in any order, or at once: the portal's POST when
the payer's browser comes back, and Stripe's ``setup_intent.succeeded`` webhook (the only
one when the browser closed first). Both end here, so either saves the card once, as the
default, with the payer's renewing subscriptions switched to it; the other gets that same
row back and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.gateways import PaymentMethodInfo
from billing.models import PaymentMethod, Subscription
from billing.payments.methods import save_method
from billing.subscriptions.state import RENEWING


async def save_confirmed_card(
    session: AsyncSession,
    *,
    merchant_id: str,
    customer_id: str,
    gateway_customer: str,
    info: PaymentMethodInfo,
    now: datetime,
) -> tuple[PaymentMethod, bool]:
    """The saved card and whether this call saved it (False: it was saved already)."""
    saved = await save_method(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        gateway_customer=gateway_customer,
        info=info,
        set_default=True,
        now=now,
    )
    if saved.created:
        # Only the call that saved it: a late replay must not undo a default chosen since.
        await use_for_subscriptions(session, merchant_id, customer_id, saved.method.id)
    return saved.method, saved.created


async def use_for_subscriptions(
    session: AsyncSession, merchant_id: str, customer_id: str, method_id: str
) -> None:
    # Charges prefer the subscription's own method; the payer's new default must win.
    await session.execute(
        update(Subscription)
        .where(
            Subscription.merchant_id == merchant_id,
            Subscription.customer_id == customer_id,
            Subscription.status.in_(RENEWING),
        )
        .values(payment_method_id=method_id)
    )
