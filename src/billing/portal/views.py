"""What the portal pages show, read in as few queries as possible.

Every query is scoped by the merchant AND by the session's customer: another payer's ids
are a 404, exactly like an id that does not exist.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.gateways.declines import payer_message
from billing.gateways.pix import qr_png
from billing.invoices.repository import invoice_views
from billing.invoices.schemas import InvoiceOut
from billing.invoices.state import COLLECTIBLE
from billing.kit.errors import NotFound
from billing.models import Invoice, PaymentAttempt, PaymentMethod, Plan, Subscription
from billing.portal.sessions import Payer
from billing.subscriptions.state import RENEWING


@dataclass(frozen=True)
class PlanFace:
    """The plan as the payer reads it (what the pages and the preview use)."""

    id: str
    name: str
    amount: int
    currency: str
    interval: str
    interval_count: int


@dataclass(frozen=True)
class SubscriptionView:
    id: str
    status: str
    plan: PlanFace
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    renewing: bool


@dataclass(frozen=True)
class InvoiceRow:
    invoice: InvoiceOut
    display_status: str  # paid | open | overdue | void | uncollectible | processing
    decline_message: str | None = None


@dataclass
class Overview:
    subscriptions: list[SubscriptionView]
    overdue: list[InvoiceRow]
    open: list[InvoiceRow]
    due_today: int
    currency: str
    next_charge: SubscriptionView | None = None
    methods: list[PaymentMethod] = field(default_factory=list)


def display_status(view: InvoiceOut, now: datetime, processing: bool = False) -> str:
    if view.status in COLLECTIBLE and processing:
        return "processing"
    if view.status in COLLECTIBLE and view.due_at < now and view.amount_due > 0:
        return "overdue"
    return view.status


# What the pages show of a subscription and its plan (also a section of the overview's
# one statement, portal/overview.py), and the view built from such a row.
SUBSCRIPTION_COLUMNS = (
    Subscription.id,
    Subscription.status,
    Subscription.current_period_start,
    Subscription.current_period_end,
    Subscription.cancel_at_period_end,
    Plan.id,
    Plan.name,
    Plan.amount,
    Plan.currency,
    Plan.interval,
    Plan.interval_count,
)


def subscription_view(r: Sequence[Any]) -> SubscriptionView:
    return SubscriptionView(
        id=r[0],
        status=r[1],
        plan=PlanFace(r[5], r[6], r[7], r[8], r[9], r[10]),
        current_period_start=r[2],
        current_period_end=r[3],
        cancel_at_period_end=r[4],
        renewing=r[1] in RENEWING,
    )


_SUBSCRIPTIONS = (
    select(*SUBSCRIPTION_COLUMNS)
    .join(Plan, Plan.id == Subscription.plan_id)
    .where(
        Subscription.merchant_id == bindparam("merchant_id"),
        Subscription.customer_id == bindparam("customer_id"),
    )
    .order_by(Subscription.id.desc())
)


async def subscriptions_of(session: AsyncSession, payer: Payer) -> list[SubscriptionView]:
    # Core rows through the connection: the ORM's execute path costs more than the query.
    connection = await session.connection()
    rows = await connection.execute(
        _SUBSCRIPTIONS, {"merchant_id": payer.merchant_id, "customer_id": payer.customer_id}
    )
    return [subscription_view(r) for r in rows.all()]


async def _last_attempts(
    session: AsyncSession, invoice_ids: Sequence[str]
) -> dict[str, PaymentAttempt]:
    if not invoice_ids:
        return {}
    rows = await session.scalars(
        select(PaymentAttempt)
        .where(PaymentAttempt.invoice_id.in_(list(invoice_ids)))
        .order_by(PaymentAttempt.invoice_id, PaymentAttempt.attempt_number)
    )
    return {a.invoice_id: a for a in rows}  # the last one per invoice wins


async def invoice_rows(
    session: AsyncSession, payer: Payer, invoices: Sequence[Invoice], now: datetime
) -> list[InvoiceRow]:
    views = await invoice_views(session, payer.merchant_id, invoices, now=now)
    open_ids = [v.id for v in views if v.status in COLLECTIBLE]
    last = await _last_attempts(session, open_ids)
    rows = []
    for view in views:
        attempt = last.get(view.id)
        processing = attempt is not None and attempt.status == "processing"
        message = None
        if attempt is not None and attempt.status == "failed" and view.status in COLLECTIBLE:
            message = payer_message(attempt.decline_code or attempt.failure_code, payer.locale)
        rows.append(InvoiceRow(view, display_status(view, now, processing), message))
    return rows


async def all_invoices(session: AsyncSession, payer: Payer, now: datetime) -> list[InvoiceRow]:
    invoices = (
        await session.scalars(
            select(Invoice)
            .where(
                Invoice.merchant_id == payer.merchant_id,
                Invoice.customer_id == payer.customer_id,
                Invoice.status != "draft",
            )
            .order_by(Invoice.due_at.desc(), Invoice.id.desc())
            .limit(100)
        )
    ).all()
    return await invoice_rows(session, payer, invoices, now)


async def get_invoice(session: AsyncSession, payer: Payer, invoice_id: str) -> Invoice:
    invoice = await session.scalar(
        select(Invoice).where(
            Invoice.id == invoice_id,
            Invoice.merchant_id == payer.merchant_id,
            Invoice.customer_id == payer.customer_id,
            Invoice.status != "draft",
        )
    )
    if invoice is None:
        raise NotFound(f"No invoice {invoice_id}")
    return invoice


@dataclass
class InvoiceDetail:
    row: InvoiceRow
    attempts: list[PaymentAttempt]
    methods: list[PaymentMethod]
    pending: PendingPayment | None = None

    @property
    def last(self) -> PaymentAttempt | None:
        return self.attempts[0] if self.attempts else None


@dataclass(frozen=True)
class PendingPayment:
    """A Pix or boleto waiting for the payer's bank: what to show so they can pay it."""

    kind: str  # pix | boleto
    pix_code: str | None = None
    pix_qr: str | None = None  # data: URI of the QR code PNG
    boleto_line: str | None = None
    boleto_due: str | None = None


def pending_payment(attempt: PaymentAttempt | None) -> PendingPayment | None:
    if attempt is None or attempt.status != "processing" or not attempt.details:
        return None
    pix = attempt.details.get("pix")
    if pix:
        png = base64.b64encode(qr_png(pix["copy_paste"])).decode()
        return PendingPayment("pix", pix["copy_paste"], f"data:image/png;base64,{png}")
    boleto = attempt.details.get("boleto")
    if boleto:
        return PendingPayment(
            "boleto", boleto_line=boleto["typeable_line"], boleto_due=boleto["due_date"]
        )
    return None


async def invoice_detail(
    session: AsyncSession, payer: Payer, invoice_id: str, now: datetime
) -> InvoiceDetail:
    invoice = await get_invoice(session, payer, invoice_id)
    row = (await invoice_rows(session, payer, [invoice], now))[0]
    attempts = (
        await session.scalars(
            select(PaymentAttempt)
            .where(
                PaymentAttempt.invoice_id == invoice.id,
                PaymentAttempt.merchant_id == payer.merchant_id,
            )
            .order_by(PaymentAttempt.attempt_number.desc())
        )
    ).all()
    methods = await methods_of(session, payer)
    return InvoiceDetail(
        row, list(attempts), methods, pending_payment(attempts[0] if attempts else None)
    )


async def methods_of(session: AsyncSession, payer: Payer) -> list[PaymentMethod]:
    rows = await session.scalars(
        select(PaymentMethod)
        .where(
            PaymentMethod.merchant_id == payer.merchant_id,
            PaymentMethod.customer_id == payer.customer_id,
            PaymentMethod.detached_at.is_(None),
        )
        .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id.desc())
    )
    return list(rows)


async def get_method(session: AsyncSession, payer: Payer, method_id: str) -> PaymentMethod:
    method = await session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.id == method_id,
            PaymentMethod.merchant_id == payer.merchant_id,
            PaymentMethod.customer_id == payer.customer_id,
            PaymentMethod.detached_at.is_(None),
        )
    )
    if method is None:
        raise NotFound(f"No payment method {method_id}")
    return method


async def get_subscription(
    session: AsyncSession, payer: Payer, subscription_id: str
) -> SubscriptionView:
    for sub in await subscriptions_of(session, payer):
        if sub.id == subscription_id:
            return sub
    raise NotFound(f"No subscription {subscription_id}")


async def attempt_by_gateway_ref(
    session: AsyncSession, payer: Payer, gateway_ref: str
) -> PaymentAttempt:
    """The payer's own attempt behind a gateway reference (3-D Secure); anyone else's: 404."""
    attempt = await session.scalar(
        select(PaymentAttempt).where(
            PaymentAttempt.gateway_ref == gateway_ref,
            PaymentAttempt.merchant_id == payer.merchant_id,
            PaymentAttempt.customer_id == payer.customer_id,
        )
    )
    if attempt is None:
        raise NotFound(f"No payment {gateway_ref}")
    return attempt
