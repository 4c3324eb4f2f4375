"""Step 1 of a charge: lock the invoice, re-check it, and create the attempt row.

Runs inside the caller's unit of work, which must commit *before* the gateway is called
(invariant 3): the attempt and its idempotency key exist in the database first, so a crash
after the call is recovered by asking the gateway about that key.

``begin_attempt`` does one invoice (API, billing run); ``begin_due_attempts`` claims a batch
of due invoices for the sweep with the same rules (``decide``) in a few set-based statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, case, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.late_fees import late_charges
from billing.db import is_postgres
from billing.gateways import ChargeRequest
from billing.invoices.repository import capped_for_consumer, policy_from_json
from billing.invoices.state import COLLECTIBLE
from billing.kit.errors import NotFound
from billing.kit.ids import new_id
from billing.models import (
    Customer,
    Invoice,
    Merchant,
    MerchantSettings,
    PaymentAttempt,
    PaymentMethod,
    Subscription,
)
from billing.payments.state import ATTEMPT

SkipReason = Literal[
    "already_paid",
    "not_collectible",
    "in_progress",
    "requires_action",
    "no_payment_method",
    "nothing_due",
]
# The payer or the merchant asked for this payment now (a retry or the billing run did not).
EXPLICIT = frozenset({"payer", "merchant"})
BOLETO_MIN_DAYS = 1  # a boleto issued today must still be payable tomorrow
# Skipped by the sweep: when to look again (None = the attempt on record decides).
NO_METHOD_RECHECK = timedelta(days=1)
_HAS_ATTEMPT = frozenset({"in_progress", "requires_action", "already_paid", "not_collectible"})


@dataclass(frozen=True)
class Skipped:
    reason: SkipReason
    invoice_id: str = ""


@dataclass(frozen=True)
class PreparedCharge:
    attempt: PaymentAttempt
    request: ChargeRequest
    method_type: str
    boleto_due: date
    gateway_settings: dict[str, Any] | None


@dataclass(frozen=True)
class Summary:
    """What is on record for an invoice's attempts."""

    last_number: int = 0
    processing: int = 0
    succeeded: int = 0
    requires_action: int = 0


@dataclass(frozen=True)
class InvoiceRow:
    invoice: Invoice
    customer: Customer
    timezone: str
    subscription_method_id: str | None
    late_fees: dict[str, Any] | None
    gateway_settings: dict[str, Any] | None


def attempt_key(invoice_id: str, attempt_number: int) -> str:
    return f"billing:charge:{invoice_id}:{attempt_number}"


def _invoice_query() -> Select[Any]:
    # FOR UPDATE OF invoices on PostgreSQL (added by callers); SQLite already serializes
    # writers (BEGIN IMMEDIATE) and renders no locking clause.
    return (
        select(
            Invoice,
            Customer,
            Merchant.timezone,
            Subscription.payment_method_id,
            MerchantSettings.late_fees,
            MerchantSettings.gateway,
        )
        .join(Customer, Customer.id == Invoice.customer_id)
        .join(Merchant, Merchant.id == Invoice.merchant_id)
        .outerjoin(Subscription, Subscription.id == Invoice.subscription_id)
        .outerjoin(MerchantSettings, MerchantSettings.merchant_id == Invoice.merchant_id)
        .execution_options(populate_existing=True)
    )


async def attempt_summaries(
    session: AsyncSession, invoice_ids: Sequence[str]
) -> dict[str, Summary]:
    status = PaymentAttempt.status

    def count(value: str) -> Any:
        return func.coalesce(func.sum(case((status == value, 1), else_=0)), 0)

    rows = await session.execute(
        select(
            PaymentAttempt.invoice_id,
            func.max(PaymentAttempt.attempt_number),
            count("processing"),
            count("succeeded"),
            count("requires_action"),
        )
        .where(PaymentAttempt.invoice_id.in_(list(invoice_ids)))
        .group_by(PaymentAttempt.invoice_id)
    )
    return {r[0]: Summary(int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


async def usable_methods(
    session: AsyncSession, customer_ids: Sequence[str]
) -> dict[str, list[PaymentMethod]]:
    """Attached, not disabled methods per customer: default first, then newest first."""
    rows = await session.scalars(
        select(PaymentMethod)
        .where(
            PaymentMethod.customer_id.in_(list(set(customer_ids))),
            PaymentMethod.detached_at.is_(None),
            PaymentMethod.disabled_reason.is_(None),
        )
        .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id.desc())
    )
    found: dict[str, list[PaymentMethod]] = {}
    for method in rows:
        found.setdefault(method.customer_id, []).append(method)
    return found


def decide(
    row: InvoiceRow,
    summary: Summary,
    methods: Sequence[PaymentMethod],
    *,
    initiated_by: str,
    now: datetime,
) -> PreparedCharge | Skipped:
    """The rules of invariant 3 on one locked invoice; adds nothing to the session."""
    invoice, customer = row.invoice, row.customer
    if invoice.status == "paid" or summary.succeeded:
        return Skipped("already_paid", invoice.id)
    if invoice.status not in COLLECTIBLE:
        return Skipped("not_collectible", invoice.id)
    if summary.processing:
        return Skipped("in_progress", invoice.id)
    if summary.requires_action and initiated_by not in EXPLICIT:
        # The payer must authenticate in the portal; retrying off-session cannot work.
        return Skipped("requires_action", invoice.id)
    method = _pick(methods, row.subscription_method_id)
    if method is None or customer.gateway_customer_ref is None:
        return Skipped("no_payment_method", invoice.id)
    # The same figure GET /v1/invoices/{id} shows as amount_due now (InvoiceOut.build).
    outstanding = invoice.total - invoice.amount_paid
    if outstanding <= 0:
        return Skipped("nothing_due", invoice.id)
    policy = policy_from_json(row.late_fees)
    policy = capped_for_consumer(policy, invoice.currency, customer.is_business)
    charges = late_charges(outstanding, invoice.due_at, now, policy, row.timezone)
    amount = outstanding + charges.total
    number = summary.last_number + 1
    key = attempt_key(invoice.id, number)
    attempt = PaymentAttempt(
        id=new_id("pay"),
        merchant_id=invoice.merchant_id,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        payment_method_id=method.id,
        attempt_number=number,
        initiated_by=initiated_by,
        amount=amount,
        currency=invoice.currency,
        status="processing",
        idempotency_key=key,
        # The late charges inside ``amount``: settlement books exactly these.
        details={"late_fee": charges.fee, "interest": charges.interest},
        attempted_at=now,
    )
    request = ChargeRequest(
        idempotency_key=key,
        amount=amount,
        currency=invoice.currency,
        gateway_customer=customer.gateway_customer_ref,
        payment_method=method.gateway_ref,
        description=f"Invoice {invoice.number}",
        metadata={
            "invoice_id": invoice.id,
            "payment_id": attempt.id,
            "merchant_id": invoice.merchant_id,
        },
    )
    boleto_due = max(invoice.due_at.date(), (now + timedelta(days=BOLETO_MIN_DAYS)).date())
    return PreparedCharge(attempt, request, method.type, boleto_due, row.gateway_settings)


def _pick(methods: Sequence[PaymentMethod], preferred_id: str | None) -> PaymentMethod | None:
    """The subscription's method if usable, else the customer's default, else the newest."""
    for method in methods:
        if method.id == preferred_id:
            return method
    return methods[0] if methods else None


def _start(session: AsyncSession, prepared: PreparedCharge, invoice: Invoice) -> None:
    session.add(prepared.attempt)
    # Taken off the sweep's list while in flight; the outcome sets the next retry.
    invoice.next_payment_attempt = None


async def begin_attempt(
    session: AsyncSession,
    *,
    merchant_id: str,
    invoice_id: str,
    payment_method_id: str | None,
    initiated_by: str,
    now: datetime,
) -> PreparedCharge | Skipped:
    found = (
        await session.execute(
            _invoice_query()
            .where(Invoice.id == invoice_id, Invoice.merchant_id == merchant_id)
            .with_for_update(of=Invoice)
        )
    ).first()
    if found is None:
        raise NotFound(f"No invoice {invoice_id}")
    row = InvoiceRow(*found)
    summary = (await attempt_summaries(session, [invoice_id])).get(invoice_id, Summary())
    if payment_method_id is not None:
        methods = [await _explicit_method(session, row.invoice, payment_method_id)]
    else:
        methods = (await usable_methods(session, [row.invoice.customer_id])).get(
            row.invoice.customer_id, []
        )
    decided = decide(row, summary, methods, initiated_by=initiated_by, now=now)
    if isinstance(decided, PreparedCharge):
        if summary.requires_action:
            await _supersede_requires_action(session, invoice_id, now)
        _start(session, decided, row.invoice)
        await session.flush()
    return decided


async def _explicit_method(
    session: AsyncSession, invoice: Invoice, method_id: str
) -> PaymentMethod:
    # Asked for by name: used even if a hard decline disabled it (the merchant's choice).
    method = await session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.id == method_id,
            PaymentMethod.merchant_id == invoice.merchant_id,
            PaymentMethod.customer_id == invoice.customer_id,
            PaymentMethod.detached_at.is_(None),
        )
    )
    if method is None:
        raise NotFound(f"No payment method {method_id} for this invoice's customer")
    return method


async def begin_due_attempts(
    session: AsyncSession, *, limit: int, now: datetime
) -> tuple[list[PreparedCharge], list[Skipped]]:
    """Claim up to ``limit`` due invoices (``SKIP LOCKED``: workers split the work) and
    create their attempts; the caller commits, then calls the gateway."""
    never_tried = (
        Invoice.next_payment_attempt.is_(None)
        & (Invoice.attempt_count == 0)
        & ~exists().where(PaymentAttempt.invoice_id == Invoice.id)
    )
    query = (
        _invoice_query()
        .where(
            Invoice.status == "open",
            Invoice.collection_method == "charge_automatically",
            or_(Invoice.next_payment_attempt <= now, never_tried),
        )
        .order_by(Invoice.next_payment_attempt)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(of=Invoice, skip_locked=True)
    rows = [InvoiceRow(*r) for r in (await session.execute(query)).all()]
    if not rows:
        return [], []
    summaries = await attempt_summaries(session, [r.invoice.id for r in rows])
    methods = await usable_methods(session, [r.invoice.customer_id for r in rows])
    started: list[PreparedCharge] = []
    skipped: list[Skipped] = []
    for row in rows:
        invoice = row.invoice
        decided = decide(
            row,
            summaries.get(invoice.id, Summary()),
            methods.get(invoice.customer_id, []),
            initiated_by="retry" if invoice.attempt_count else "automatic",
            now=now,
        )
        if isinstance(decided, PreparedCharge):
            _start(session, decided, invoice)
            started.append(decided)
        else:
            # When to look again, so a skipped invoice does not churn through every sweep.
            again = None if decided.reason in _HAS_ATTEMPT else now + NO_METHOD_RECHECK
            invoice.next_payment_attempt = again
            skipped.append(decided)
    await session.flush()
    return started, skipped


async def _supersede_requires_action(session: AsyncSession, invoice_id: str, now: datetime) -> None:
    # A new explicit payment replaces one waiting for 3-D Secure; the service has already
    # canceled it at the gateway (service._close_replaceable_charges).
    assert ATTEMPT.can("requires_action", "failed")
    await session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.invoice_id == invoice_id, PaymentAttempt.status == "requires_action")
        .values(status="failed", failure_code="superseded", completed_at=now)
    )
