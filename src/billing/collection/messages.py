"""What one outbox message says: the context for the templates, built from the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.late_fees import (
    CONSUMER_MAX_FEE_PERCENT,
    CONSUMER_MAX_MONTHLY_INTEREST_PERCENT,
    LateFeePolicy,
    late_charges,
)
from billing.collection.policy import late_fee_policy
from billing.gateways.declines import payer_message
from billing.models import (
    CollectionMessage,
    Customer,
    Invoice,
    Merchant,
    MerchantSettings,
    PaymentAttempt,
    Plan,
    Subscription,
)
from billing.notifications import MessageContext, resolve_locale
from billing.subscriptions.periods import to_local


class IdentityIncomplete(ValueError):
    """The merchant lacks what every collection message must print (CDC art. 42-A)."""


def portal_url(base_url: str, merchant_id: str) -> str:
    # Placeholder until the portal issue gives payers their own session links.
    return f"{base_url.rstrip('/')}/portal/{merchant_id}"


def _consumer_capped(policy: LateFeePolicy, currency: str, is_business: bool) -> LateFeePolicy:
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


async def _installment_label(session: AsyncSession, invoice: Invoice, locale: str) -> str:
    label = f"Fatura nº {invoice.number}" if locale == "pt-BR" else f"Invoice #{invoice.number}"
    if invoice.subscription_id:
        plan_name = await session.scalar(
            select(Plan.name)
            .join(Subscription, Subscription.plan_id == Plan.id)
            .where(Subscription.id == invoice.subscription_id)
        )
        if plan_name:
            label = f"{label} — {plan_name}"
    return label


async def latest_decline(session: AsyncSession, invoice_id: str) -> str | None:
    row = (
        await session.execute(
            select(PaymentAttempt.decline_code, PaymentAttempt.failure_code)
            .where(
                PaymentAttempt.invoice_id == invoice_id,
                PaymentAttempt.status.in_(("failed", "requires_action")),
            )
            .order_by(PaymentAttempt.attempt_number.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return row[0] or row[1] or "generic_decline"


async def build_context(
    session: AsyncSession,
    message: CollectionMessage,
    invoice: Invoice,
    customer: Customer,
    merchant: Merchant,
    *,
    base_url: str,
    now: datetime,
) -> tuple[str, MessageContext]:
    """(template actually used, context). ``payment_failed`` without a failed payment
    (a ``send_invoice`` installment) is worded as ``overdue``."""
    if not merchant.document or not merchant.support_email or not merchant.support_phone:
        raise IdentityIncomplete(
            "collection messages need the merchant's CNPJ (document), support_email and "
            "support_phone: PATCH /v1/merchant"
        )
    locale = resolve_locale(customer.locale)
    tz = merchant.timezone
    stored = await session.scalar(
        select(MerchantSettings.late_fees).where(MerchantSettings.merchant_id == merchant.id)
    )
    outstanding = max(0, invoice.total - invoice.amount_paid)
    policy = _consumer_capped(late_fee_policy(stored), invoice.currency, customer.is_business)
    charges = late_charges(outstanding, invoice.due_at, now, policy, tz)
    template = message.template
    reason = None
    if template == "payment_failed":
        code = await latest_decline(session, invoice.id)
        if code is None:
            template = "overdue"
        else:
            reason = payer_message(code, locale)
    context = MessageContext(
        merchant_name=merchant.name,
        merchant_legal_name=merchant.legal_name or merchant.name,
        merchant_document=merchant.document,
        support_email=merchant.support_email,
        support_phone=merchant.support_phone,
        payer_name=customer.name,
        payer_email=customer.email,
        payer_phone=customer.phone,
        amount=outstanding,
        currency=invoice.currency,
        due_at=to_local(invoice.due_at, tz).date(),
        installment=await _installment_label(session, invoice, locale),
        portal_url=portal_url(base_url, merchant.id),
        late_fee=charges.fee,
        interest=charges.interest,
        days_overdue=charges.days_late,
        decline_reason=reason,
        brand_color=merchant.brand_color or "#1d4ed8",
    )
    return template, context
