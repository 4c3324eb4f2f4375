"""``payment_intent.succeeded`` events of an inbox batch, applied together.

The common event, and the one that needs no gateway call (a success is final). The plain
case — our attempt ``processing`` or ``requires_action`` with its gateway reference known,
its installment open with no late charges to add, no subscription to reactivate — is a
handful of set-based statements for the whole batch: invoices locked in id order (the same
order every payment writer uses), attempts and invoices moved by one guarded ``UPDATE``
each, one ``invoice.paid`` event per installment. Every other case goes through the
payments engineer's ``record_outcomes`` (batched as well), and an attempt we cannot find
through the event-by-event handler. The end state is the same either way; the tests
compare both paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.db import is_postgres
from billing.events.service import record_event
from billing.gateways.stripe_mapping import ATTEMPT_KEY, charge_result
from billing.invoices.state import COLLECTIBLE, INVOICE
from billing.models import GatewayEvent, Invoice, PaymentAttempt, Subscription
from billing.payments.state import ATTEMPT

FINAL = ("succeeded", "failed")
# Attempt statuses a success may leave (checked against ATTEMPT as well, under lock).
MOVABLE = ("processing", "requires_action")
# Subscriptions a payment may bring back to active: record_outcomes decides those.
REACTIVATABLE = ("past_due", "unpaid")


class FastPathRaced(Exception):
    """A guarded UPDATE matched fewer rows than checked under lock: never expected."""


@dataclass
class _Attempt:
    id: str
    invoice_id: str
    status: str
    gateway_ref: str | None
    amount: int
    details: dict[str, Any] | None


def event_object(row: GatewayEvent) -> dict[str, Any]:
    data = row.payload.get("data") if isinstance(row.payload, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


async def apply_succeeded_intents(
    session: AsyncSession, rows: Sequence[GatewayEvent], *, now: datetime
) -> dict[str, str]:
    """Outcome per inbox row id handled here; rows not in the answer are the caller's."""
    wanted: dict[tuple[str, str], GatewayEvent] = {}
    for row in rows:
        if row.type != "payment_intent.succeeded":
            continue
        intent = event_object(row)
        key = (intent.get("metadata") or {}).get(ATTEMPT_KEY)
        if intent.get("status") == "succeeded" and isinstance(key, str) and key:
            # A second event for the same attempt in this batch: the handler, afterwards.
            wanted.setdefault((row.merchant_id, key), row)
    if not wanted:
        return {}
    by_merchant: dict[str, list[str]] = {}
    for merchant_id, key in wanted:
        by_merchant.setdefault(merchant_id, []).append(key)

    attempts: dict[tuple[str, str], _Attempt] = {}
    invoices: dict[str, Any] = {}
    for merchant_id, keys in by_merchant.items():
        # The installments first (through the unique key's index), then their locks by
        # primary key: a join here made PostgreSQL scan every invoice of the merchant.
        mine = list(
            await session.scalars(
                select(PaymentAttempt.invoice_id).where(
                    PaymentAttempt.merchant_id == merchant_id,
                    PaymentAttempt.idempotency_key.in_(keys),
                )
            )
        )
        if not mine:
            continue
        # Invoice locks first, in id order, as every writer of an invoice's payments does.
        lock = (
            select(
                Invoice.id,
                Invoice.merchant_id,
                Invoice.status,
                Invoice.subscription_id,
                Invoice.customer_id,
                Invoice.currency,
                Invoice.amount_paid,
            )
            .where(Invoice.merchant_id == merchant_id, Invoice.id.in_(mine))
            .order_by(Invoice.id)
        )
        if is_postgres(session):
            lock = lock.with_for_update()
        invoices.update({r.id: r for r in (await session.execute(lock)).all()})
        found = await session.execute(
            select(
                PaymentAttempt.idempotency_key,
                PaymentAttempt.id,
                PaymentAttempt.invoice_id,
                PaymentAttempt.status,
                PaymentAttempt.gateway_ref,
                PaymentAttempt.amount,
                PaymentAttempt.details,
            ).where(
                PaymentAttempt.merchant_id == merchant_id,
                PaymentAttempt.idempotency_key.in_(keys),
            )
        )
        attempts.update({(merchant_id, str(r[0])): _Attempt(*r[1:]) for r in found.all()})

    sub_ids = sorted({i.subscription_id for i in invoices.values() if i.subscription_id})
    subscriptions: dict[str, str] = {}
    if sub_ids:
        subs = (
            select(Subscription.id, Subscription.status)
            .where(Subscription.id.in_(sub_ids))
            .order_by(Subscription.id)
        )
        if is_postgres(session):
            subs = subs.with_for_update()
        subscriptions = {i: s for i, s in (await session.execute(subs)).all()}

    done: dict[str, str] = {}
    fast: list[tuple[GatewayEvent, _Attempt]] = []
    slow: list[tuple[GatewayEvent, _Attempt]] = []
    paid_invoices: set[str] = set()
    for pair, row in wanted.items():
        attempt = attempts.get(pair)
        if attempt is None:
            continue  # the handler also looks the attempt up by its gateway reference
        if attempt.status in FINAL:
            done[row.id] = f"attempt {attempt.id} already {attempt.status}"
            continue
        invoice = invoices.get(attempt.invoice_id)
        details = attempt.details or {}
        plain = (
            invoice is not None
            and attempt.status in MOVABLE
            and ATTEMPT.can(attempt.status, "succeeded")
            and attempt.gateway_ref is not None
            and not int(details.get("late_fee", 0) or 0)
            and not int(details.get("interest", 0) or 0)
            and invoice.status in COLLECTIBLE
            and INVOICE.can(invoice.status, "paid")
            and subscriptions.get(invoice.subscription_id or "") not in REACTIVATABLE
            and attempt.invoice_id not in paid_invoices
        )
        if plain:
            paid_invoices.add(attempt.invoice_id)
            fast.append((row, attempt))
        else:
            slow.append((row, attempt))

    if fast:
        await _settle_plain(session, [a for _, a in fast], invoices, now=now)
        for row, attempt in fast:
            done[row.id] = f"attempt {attempt.id}: {attempt.status} -> succeeded"
    if slow:
        from billing.payments.outcomes import record_outcomes

        updated = await record_outcomes(
            session, [(a.id, charge_result(event_object(r))) for r, a in slow], now=now
        )
        for (row, attempt), after in zip(slow, updated, strict=True):
            done[row.id] = f"attempt {attempt.id}: {attempt.status} -> {after.status}"
    return done


async def _settle_plain(
    session: AsyncSession, attempts: list[_Attempt], invoices: dict[str, Any], *, now: datetime
) -> None:
    """What record_outcomes does for a plain success, as two UPDATEs and the events."""
    ids = [a.id for a in attempts]
    moved = await session.execute(
        update(PaymentAttempt)
        .where(
            PaymentAttempt.id.in_(ids), PaymentAttempt.status.in_(("processing", "requires_action"))
        )
        .values(
            status="succeeded",
            completed_at=now,
            failure_code=None,
            decline_code=None,
            decline_type=None,
            next_action_url=None,
        )
        .execution_options(synchronize_session=False)
    )
    # The amount each installment receives: its attempt's, read by the same statement.
    paid_amount = (
        select(PaymentAttempt.amount)
        .where(PaymentAttempt.invoice_id == Invoice.id, PaymentAttempt.id.in_(ids))
        .scalar_subquery()
    )
    settled = await session.execute(
        update(Invoice)
        .where(Invoice.id.in_([a.invoice_id for a in attempts]), Invoice.status.in_(COLLECTIBLE))
        .values(
            status="paid",
            amount_paid=Invoice.amount_paid + paid_amount,
            late_fee=0,
            interest=0,
            paid_at=now,
            next_payment_attempt=None,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != len(ids) or settled.rowcount != len(ids):  # type: ignore[attr-defined]
        raise FastPathRaced("payments changed under the invoice locks")
    for attempt in attempts:
        invoice = invoices[attempt.invoice_id]
        await record_event(
            session,
            invoice.merchant_id,
            "invoice.paid",
            {
                "invoice_id": invoice.id,
                "customer_id": invoice.customer_id,
                "subscription_id": invoice.subscription_id,
                "amount_paid": invoice.amount_paid + attempt.amount,
                "currency": invoice.currency,
                "payment_id": attempt.id,
            },
            now=now,
            flush=False,
        )
