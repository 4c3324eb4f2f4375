"""Sign-up: the subscription and its first installment, then the first charge.

Two units of work on purpose: the subscription and invoice #1 are committed first, so
the charge (which commits its own attempt row before calling the gateway, invariant 3)
always acts on a stored invoice; a failed charge leaves a ``past_due`` subscription with
collection started, never a lost sign-up.
"""

from __future__ import annotations

import structlog

from billing.db import unit_of_work
from billing.invoices.service import hand_off_for_collection
from billing.jobs import JobContext
from billing.subscriptions.schemas import SubscriptionCreate, SubscriptionOut
from billing.subscriptions.service import start_subscription, subscription_view

log = structlog.get_logger("billing.subscriptions")


async def subscribe(ctx: JobContext, merchant_id: str, data: SubscriptionCreate) -> SubscriptionOut:
    from billing.payments.service import charge_invoice

    async with unit_of_work(ctx.session_factory) as session:
        now = await ctx.clock.sync(session)
        sub, invoice = await start_subscription(session, merchant_id, data, now=now)
        charge_now = (
            invoice is not None
            and invoice.status == "open"
            and (sub.collection_method == "charge_automatically")
        )
    if charge_now and invoice is not None:
        try:
            await charge_invoice(
                ctx,
                merchant_id=merchant_id,
                invoice_id=invoice.id,
                payment_method_id=sub.payment_method_id,
                initiated_by="automatic",
            )
        except Exception:
            # The invoice is stored and open: hand it to the queue, which retries the
            # collection, rather than failing a sign-up that did happen.
            log.exception("first_charge_failed", invoice_id=invoice.id)
            async with unit_of_work(ctx.session_factory) as session:
                hand_off_for_collection(session, invoice)
    async with unit_of_work(ctx.session_factory) as session:
        return await subscription_view(session, merchant_id, sub.id)
