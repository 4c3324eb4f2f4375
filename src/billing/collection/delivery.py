"""Delivering one outbox message: check, defer, render, send, record.

Two short transactions around the send, never a lock held over the network:
1. lock the row; skip it if the installment is settled or a promise pauses the ruler;
   defer it (``deliver_at``) for quiet hours or the weekly cap; otherwise render it and
   claim it (``attempts`` + 1, ``deliver_at`` = now + lease);
2. after the send, record sent / retry later / failed — only if the claim is still ours.

A worker that dies between them leaves the claim to expire; the message is then sent
again with the same idempotency key (SMTP Message-ID, provider Idempotency-Key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.messages import IdentityIncomplete, build_context
from billing.collection.policy import ruler_policy
from billing.collection.quiet_hours import next_allowed_time, next_slot_under_cap
from billing.config import Settings
from billing.db import is_postgres
from billing.events.service import record_event
from billing.kit.secrets import SecretBox
from billing.models import (
    CollectionMessage,
    Customer,
    Invoice,
    Merchant,
    MerchantSettings,
    PaymentPromise,
)
from billing.notifications import MessageTooLong, render
from billing.notifications.channels import DeliveryFailed, HttpMessageSender, email_sender

LEASE = timedelta(minutes=10)
RETRY_IMMINENT = timedelta(hours=1)
AFTER_RETRY = timedelta(minutes=15)
# Waits after the 1st, 2nd, ... retryable failure; then the message is failed.
BACKOFF = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6))
PAYER_CHANNELS = ("email", "sms", "whatsapp")  # webhook goes to the merchant, not the payer


@dataclass(frozen=True)
class Claim:
    message_id: str
    attempts: int
    channel: str
    recipient: str
    subject: str | None
    text: str
    html: str | None
    merchant_id: str
    channels: dict[str, Any] | None
    now: datetime


async def _lock(session: AsyncSession, message_id: str) -> CollectionMessage | None:
    query = select(CollectionMessage).where(CollectionMessage.id == message_id)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return await session.scalar(query.execution_options(populate_existing=True))


async def contact_times(
    session: AsyncSession, merchant_id: str, customer_id: str, now: datetime
) -> list[datetime]:
    """When the payer was contacted in the last 7 days (sent, or claimed and in flight)."""
    rows = await session.scalars(
        select(CollectionMessage.sent_at).where(
            CollectionMessage.merchant_id == merchant_id,
            CollectionMessage.customer_id == customer_id,
            CollectionMessage.channel.in_(PAYER_CHANNELS),
            CollectionMessage.status == "sent",
            CollectionMessage.sent_at > now - timedelta(days=7),
        )
    )
    return [t for t in rows if t is not None]


def allowed_at(
    now: datetime, sent: list[datetime], *, quiet: tuple[Any, Any], cap: int, tz: str
) -> datetime:
    """The first instant >= now outside quiet hours and under the weekly cap."""
    at = now
    for _ in range(32):  # each pass moves forward; they agree within a few
        moved = next_allowed_time(next_slot_under_cap(sent, at, cap), quiet[0], quiet[1], tz)
        if moved == at:
            return at
        at = moved
    return at


def _recipient(channel: str, customer: Customer) -> str | None:
    return customer.email if channel == "email" else customer.phone


async def prepare(
    session: AsyncSession, message_id: str, now: datetime, *, base_url: str
) -> Claim | None:
    """Transaction 1. Returns the claim to send, or None when there is nothing to send now."""
    msg = await _lock(session, message_id)
    if msg is None or msg.status != "pending" or msg.deliver_at > now:
        return None
    row = (
        await session.execute(
            select(Invoice, Customer, Merchant, MerchantSettings)
            .join(Customer, Customer.id == Invoice.customer_id)
            .join(Merchant, Merchant.id == Invoice.merchant_id)
            .outerjoin(MerchantSettings, MerchantSettings.merchant_id == Invoice.merchant_id)
            .where(Invoice.id == msg.invoice_id, Invoice.merchant_id == msg.merchant_id)
        )
    ).one()
    invoice, customer, merchant, settings = row
    if invoice.status != "open" or invoice.amount_paid >= invoice.total:
        _skip(msg, f"installment is {invoice.status}", now)
        return None
    promised = await session.scalar(
        select(PaymentPromise.id).where(
            PaymentPromise.merchant_id == msg.merchant_id,
            PaymentPromise.customer_id == msg.customer_id,
            PaymentPromise.status == "pending",
        )
    )
    if promised is not None:
        _skip(msg, f"paused by promise to pay {promised}", now)
        return None
    retry = invoice.next_payment_attempt
    if retry is not None and retry <= now + RETRY_IMMINENT:
        # An automatic retry is due or in flight: hear its outcome first, so nobody is
        # asked to pay what is being charged right now (paid → this message is skipped).
        msg.deliver_at = max(now, retry) + AFTER_RETRY
        await session.flush()
        return None
    policy = ruler_policy(settings.collection if settings else None)
    if msg.channel in PAYER_CHANNELS:
        sent = await contact_times(session, msg.merchant_id, msg.customer_id, now)
        when = allowed_at(
            now,
            sent,
            quiet=(policy.quiet_start, policy.quiet_end),
            cap=policy.max_contacts_per_week,
            tz=merchant.timezone,
        )
        if when > now:
            msg.deliver_at = when  # deferred, never dropped
            await session.flush()
            return None
    try:
        template, context = await build_context(
            session, msg, invoice, customer, merchant, base_url=base_url, now=now
        )
        rendered = render(
            template,
            tone=msg.tone,
            locale=customer.locale,
            channel=msg.channel,  # type: ignore[arg-type]
            context=context,
        )
    except (IdentityIncomplete, MessageTooLong, ValueError) as exc:
        _fail(msg, str(exc), now)
        return None
    msg.rendered_template = template
    if msg.channel == "webhook":
        await record_event(
            session,
            msg.merchant_id,
            "collection.message",
            {"message_id": msg.id, "invoice_id": msg.invoice_id,
             "customer_id": msg.customer_id, "step": msg.step_key,
             "subject": rendered.subject, "text": rendered.text, **rendered.data},
            now=now,
        )  # fmt: skip
        msg.status, msg.sent_at, msg.attempts = "sent", now, msg.attempts + 1
        await session.flush()
        return None
    recipient = _recipient(msg.channel, customer)
    if not recipient:
        missing = "e-mail" if msg.channel == "email" else "phone"
        _skip(msg, f"the customer has no {missing}", now)
        return None
    msg.attempts += 1
    msg.recipient = recipient
    msg.deliver_at = now + LEASE
    await session.flush()
    return Claim(
        message_id=msg.id,
        attempts=msg.attempts,
        channel=msg.channel,
        recipient=recipient,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        merchant_id=msg.merchant_id,
        channels=settings.channels if settings else None,
        now=now,
    )


def _skip(msg: CollectionMessage, reason: str, now: datetime) -> None:
    msg.status, msg.last_error, msg.deliver_at = "skipped", reason[:500], now
    return None


def _fail(msg: CollectionMessage, reason: str, now: datetime) -> None:
    msg.status, msg.last_error, msg.deliver_at = "failed", reason[:500], now
    return None


async def send(claim: Claim, settings: Settings) -> str | None:
    """Between the transactions: hand the message to its channel. Raises DeliveryFailed."""
    key = f"collection-{claim.message_id}"
    if claim.channel == "email":
        sender = email_sender(settings)
        if sender is None:
            raise DeliveryFailed("e-mail is not configured (BILLING_SMTP_HOST)", retryable=False)
        domain = settings.smtp_from.rpartition("@")[2] or "localhost"
        return await sender.send(
            claim.recipient,
            claim.subject or "",
            claim.text,
            claim.html,
            {"X-Billing-Message": claim.message_id},
            message_id=f"<{key}@{domain}>",
            sent_at=claim.now,  # the Date header follows our clock (simulated in the sandbox)
        )
    provider = (claim.channels or {}).get(claim.channel) or {}
    if not provider.get("url") or not provider.get("token"):
        raise DeliveryFailed(
            f"no {claim.channel} provider: PUT /v1/settings/channels", retryable=False
        )
    token = SecretBox(settings.secret_key).decrypt(provider["token"])
    http = HttpMessageSender(provider["url"], token, claim.channel)  # type: ignore[arg-type]
    return await http.send(claim.recipient, claim.text, key)


async def record_result(
    session: AsyncSession,
    claim: Claim,
    now: datetime,
    *,
    provider_id: str | None = None,
    error: DeliveryFailed | None = None,
) -> str:
    """Transaction 2: the outcome, if the claim is still ours. Returns the new status."""
    msg = await _lock(session, claim.message_id)
    if msg is None or msg.status != "pending" or msg.attempts != claim.attempts:
        return msg.status if msg else "missing"
    if error is None:
        msg.status, msg.sent_at, msg.provider_message_id = "sent", now, provider_id
        msg.last_error = None
    elif error.retryable and msg.attempts <= len(BACKOFF):
        msg.deliver_at = now + BACKOFF[msg.attempts - 1]
        msg.last_error = str(error)[:500]
    else:
        msg.status, msg.last_error = "failed", str(error)[:500]
    await session.flush()
    return msg.status
