"""Login links by e-mail: the same answer whether or not the address exists, rate-limited
per e-mail and per IP, and the link sent after the response (no timing difference)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.config import Settings
from billing.invoices.repository import invoice_views
from billing.kit.secrets import hash_token
from billing.models import Customer, Invoice, Merchant, PortalLoginAttempt
from billing.notifications import MessageContext, render
from billing.notifications.channels import DeliveryFailed, email_sender
from billing.portal.i18n import portal_locale, translator
from billing.portal.sessions import EMAIL_LINK_TTL, create_session

log = structlog.get_logger("billing.portal")

WINDOW = timedelta(minutes=15)
MAX_PER_EMAIL = 3
MAX_PER_IP = 20


class LoginRateLimited(Exception):
    pass


@dataclass(frozen=True)
class LoginEmail:
    to: str
    subject: str
    text: str
    html: str | None


def _email_key(merchant_id: str, email: str) -> str:
    return hash_token(f"email:{merchant_id}:{email.strip().lower()}")


def _ip_key(ip: str) -> str:
    return hash_token(f"ip:{ip}")


async def _count(session: AsyncSession, kind: str, key: str, since: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(PortalLoginAttempt)
            .where(
                PortalLoginAttempt.kind == kind,
                PortalLoginAttempt.key_hash == key,
                PortalLoginAttempt.created_at > since,
            )
        )
        or 0
    )


async def _check_and_record(
    session: AsyncSession, merchant_id: str, email: str, ip: str, now: datetime
) -> None:
    since = now - WINDOW
    email_key, ip_key = _email_key(merchant_id, email), _ip_key(ip)
    # Old rows of these keys are useless once out of the window.
    await session.execute(
        delete(PortalLoginAttempt).where(
            PortalLoginAttempt.key_hash.in_([email_key, ip_key]),
            PortalLoginAttempt.created_at <= since,
        )
    )
    if (
        await _count(session, "email", email_key, since) >= MAX_PER_EMAIL
        or await _count(session, "ip", ip_key, since) >= MAX_PER_IP
    ):
        raise LoginRateLimited
    session.add_all(
        [
            PortalLoginAttempt(kind="email", key_hash=email_key, created_at=now),
            PortalLoginAttempt(kind="ip", key_hash=ip_key, created_at=now),
        ]
    )
    await session.flush()


async def request_login_link(
    session: AsyncSession,
    settings: Settings,
    merchant_id: str,
    *,
    email: str,
    ip: str,
    now: datetime,
) -> LoginEmail | None:
    """Records the attempt; returns the e-mail to send, or None for an unknown address.

    Raises LoginRateLimited past the limits, whatever the address (no existence oracle).
    """
    await _check_and_record(session, merchant_id, email, ip, now)
    customer = await session.scalar(
        select(Customer)
        .where(Customer.merchant_id == merchant_id, func.lower(Customer.email) == email.lower())
        .order_by(Customer.id.desc())
        .limit(1)
    )
    merchant = await session.get(Merchant, merchant_id)
    if customer is None or merchant is None:
        return None
    _, raw = await create_session(
        session,
        merchant_id,
        customer_id=customer.id,
        now=now,
        source="email",
        ttl=EMAIL_LINK_TTL,
    )
    url = f"{settings.base_url}/portal/s/{raw}"
    return await _compose(session, merchant, customer, url, now)


async def _compose(
    session: AsyncSession, merchant: Merchant, customer: Customer, url: str, now: datetime
) -> LoginEmail:
    locale = portal_locale(customer.locale)
    invoice = await session.scalar(
        select(Invoice)
        .where(
            Invoice.merchant_id == merchant.id,
            Invoice.customer_id == customer.id,
            Invoice.status == "open",
        )
        .order_by(Invoice.due_at)
        .limit(1)
    )
    try:
        if invoice is None or not (
            merchant.document and merchant.support_email and merchant.support_phone
        ):
            raise ValueError("not enough for the collection template")
        view = (await invoice_views(session, merchant.id, [invoice], now=now))[0]
        context = MessageContext(
            merchant_name=merchant.name,
            merchant_legal_name=merchant.legal_name or merchant.name,
            merchant_document=merchant.document,
            support_email=merchant.support_email,
            support_phone=merchant.support_phone,
            payer_name=customer.name,
            payer_email=customer.email,
            amount=view.total - view.amount_paid,
            currency=view.currency,
            due_at=view.due_at.date(),
            installment=translator(locale)("inv.title", number=view.number),
            portal_url=url,
            late_fee=view.late_fee,
            interest=view.interest,
            amount_due=view.amount_due,
            days_overdue=max(0, (now - view.due_at).days),
            brand_color=merchant.brand_color or "#1d4ed8",
        )
        message = render(
            "portal_login_link", tone="friendly", locale=locale, channel="email", context=context
        )
        return LoginEmail(customer.email, message.subject or "", message.text, message.html)
    except ValueError:
        # A merchant without a complete identity or a payer with nothing open still gets
        # a plain link (the collection template needs an installment and a CNPJ).
        t = translator(locale)
        subject = t("login.title", merchant=merchant.name)
        return LoginEmail(customer.email, subject, f"{subject}\n\n{url}\n", None)


async def send_login_email(settings: Settings, email: LoginEmail) -> None:
    """Sent after the response; with no e-mail configured the link goes to the log."""
    sender = email_sender(settings)
    if sender is None:
        log.info("portal_login_link", to=email.to, text=email.text)
        return
    try:
        await sender.send(email.to, email.subject, email.text, email.html)
    except DeliveryFailed as exc:
        log.warning("portal_login_link_failed", to=email.to, error=str(exc))
