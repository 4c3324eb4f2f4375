"""Reading invoices, always scoped by merchant (another merchant's id is a 404)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.late_fees import (
    CONSUMER_MAX_FEE_PERCENT,
    CONSUMER_MAX_MONTHLY_INTEREST_PERCENT,
    LateFeePolicy,
)
from billing.invoices.schemas import DEFAULT_TZ, InvoiceOut
from billing.kit.errors import NotFound
from billing.models import Customer, Invoice, InvoiceLine, Merchant, MerchantSettings


async def get_invoice(
    session: AsyncSession, merchant_id: str, invoice_id: str, *, for_update: bool = False
) -> Invoice:
    query = select(Invoice).where(Invoice.id == invoice_id, Invoice.merchant_id == merchant_id)
    if for_update:
        query = query.with_for_update()
    invoice = await session.scalar(query)
    if invoice is None:
        raise NotFound(f"No invoice {invoice_id}")
    return invoice


async def lines_of(
    session: AsyncSession, invoice_ids: Sequence[str]
) -> dict[str, list[InvoiceLine]]:
    """Lines of several invoices in one query, in insertion order."""
    found: dict[str, list[InvoiceLine]] = {i: [] for i in invoice_ids}
    if not invoice_ids:
        return found
    rows = await session.scalars(
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id.in_(list(invoice_ids)))
        .order_by(InvoiceLine.id)
    )
    for line in rows:
        found[line.invoice_id].append(line)
    return found


def policy_from_json(data: dict[str, Any] | None) -> LateFeePolicy:
    if not data:
        return LateFeePolicy()
    default = LateFeePolicy()
    return LateFeePolicy(
        fee_percent=Decimal(str(data.get("fee_percent", default.fee_percent))),
        monthly_interest_percent=Decimal(
            str(data.get("monthly_interest_percent", default.monthly_interest_percent))
        ),
        grace_days=int(data.get("grace_days", default.grace_days)),
        on_time_discount_percent=Decimal(
            str(data.get("on_time_discount_percent", default.on_time_discount_percent))
        ),
    )


def capped_for_consumer(policy: LateFeePolicy, currency: str, is_business: bool) -> LateFeePolicy:
    """Consumer debt in BRL never shows more than the legal caps (CDC art. 52 §1)."""
    if is_business or currency != "BRL":
        return policy
    return LateFeePolicy(
        fee_percent=min(policy.fee_percent, CONSUMER_MAX_FEE_PERCENT),
        monthly_interest_percent=min(
            policy.monthly_interest_percent, CONSUMER_MAX_MONTHLY_INTEREST_PERCENT
        ),
        grace_days=policy.grace_days,
        on_time_discount_percent=policy.on_time_discount_percent,
    )


async def late_fee_context(session: AsyncSession, merchant_id: str) -> tuple[LateFeePolicy, str]:
    """The merchant's late-fee policy (defaults when unset) and time zone."""
    row = (
        await session.execute(
            select(Merchant.timezone, MerchantSettings.late_fees)
            .select_from(Merchant)
            .outerjoin(MerchantSettings, MerchantSettings.merchant_id == Merchant.id)
            .where(Merchant.id == merchant_id)
        )
    ).first()
    if row is None:
        return LateFeePolicy(), DEFAULT_TZ
    return policy_from_json(row[1]), row[0] or DEFAULT_TZ


async def invoice_views(
    session: AsyncSession, merchant_id: str, invoices: Sequence[Invoice], *, now: datetime
) -> list[InvoiceOut]:
    """API views of several invoices of one merchant: lines, policy and caps in 3 queries."""
    if not invoices:
        return []
    policy, tz = await late_fee_context(session, merchant_id)
    lines = await lines_of(session, [i.id for i in invoices])
    business = dict(
        (
            await session.execute(
                select(Customer.id, Customer.is_business).where(
                    Customer.id.in_({i.customer_id for i in invoices})
                )
            )
        ).all()
    )
    return [
        InvoiceOut.build(
            inv,
            lines[inv.id],
            now=now,
            policy=capped_for_consumer(policy, inv.currency, bool(business.get(inv.customer_id))),
            tz=tz,
        )
        for inv in invoices
    ]


async def invoice_view(
    session: AsyncSession, merchant_id: str, invoice_id: str, *, now: datetime
) -> InvoiceOut:
    """GET /v1/invoices/{id}: the invoice as of ``now``, or 404 when not the merchant's."""
    invoice = await get_invoice(session, merchant_id, invoice_id)
    return (await invoice_views(session, merchant_id, [invoice], now=now))[0]
