"""E-mail over SMTP (aiosmtplib), multipart/alternative text + HTML; or, for trying the
service out without a mail server, into an outbox folder of .eml files."""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

import aiosmtplib

from billing.config import Settings
from billing.notifications.channels.base import (
    ChannelName,
    DeliveryFailed,
    DeliveryReceipt,
    OutgoingMessage,
)

__all__ = ["EmailSender", "OutboxSender", "email_sender"]

# RFC 5322 id-left: keep it to characters every MTA accepts.
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]")
# Headers we set ourselves; callers may not override them through ``headers``.
_RESERVED = {"from", "to", "subject", "message-id", "date", "mime-version", "content-type"}


class EmailSender:
    name: ChannelName = "email"

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        from_addr: str,
        use_tls: bool = False,
        start_tls: bool | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username or None
        self.password = password or None
        self.from_addr = from_addr
        self.use_tls = use_tls
        self.start_tls = start_tls  # None: upgrade when the server offers STARTTLS
        self.timeout = timeout
        self._domain = parseaddr(from_addr)[1].rpartition("@")[2] or "localhost"

    def build(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        headers: dict[str, str] | None = None,
        *,
        message_id: str | None = None,
        sent_at: datetime | None = None,
    ) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.from_addr
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = message_id or make_msgid(domain=self._domain)
        if sent_at is not None:
            msg["Date"] = format_datetime(sent_at)
        for key, value in (headers or {}).items():
            if key.lower() in _RESERVED:
                raise ValueError(f"header {key!r} is set by the sender")
            msg[key] = value
        msg.set_content(text, charset="utf-8")
        if html is not None:
            msg.add_alternative(html, subtype="html", charset="utf-8")
        return msg

    async def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        message_id: str | None = None,
        sent_at: datetime | None = None,
    ) -> str:
        """Send one e-mail; return its Message-ID. ``sent_at`` fills the Date header."""
        msg = self.build(to, subject, text, html, headers, message_id=message_id, sent_at=sent_at)
        await self.transmit(msg, to)
        return str(msg["Message-ID"])

    async def transmit(self, msg: EmailMessage, to: str) -> None:
        """Hand the built message to the SMTP server. Raises DeliveryFailed."""
        try:
            await aiosmtplib.send(
                msg,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryFailed(
                f"recipient refused: {to}",
                retryable=all(400 <= c < 500 for c in codes),
                status=codes[0] if codes else None,
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx is "try again later" in SMTP; 5xx (auth, policy, bad address) is final.
            raise DeliveryFailed(
                f"SMTP {exc.code}: {exc.message}", retryable=400 <= exc.code < 500, status=exc.code
            ) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # e.g. AUTH or STARTTLS missing on the server: configuration, not weather.
            raise DeliveryFailed(f"SMTP server: {exc}", retryable=False) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"SMTP unavailable: {exc}", retryable=True) from exc

    async def deliver(self, message: OutgoingMessage) -> DeliveryReceipt:
        # A Message-ID derived from the idempotency key lets mail clients and our
        # history recognise a retried send of the same message as one message.
        message_id = f"<{_UNSAFE_ID.sub('-', message.idempotency_key)}@{self._domain}>"
        sent = await self.send(
            message.to,
            message.subject or "",
            message.text,
            message.html,
            message.headers,
            message_id=message_id,
        )
        return DeliveryReceipt(channel=self.name, to=message.to, provider_message_id=sent)


class OutboxSender(EmailSender):
    """Writes each message to ``folder`` as an .eml file any mail client opens, instead of
    sending it: for the embedded quick start (BILLING_EMAIL_OUTBOX), not for payers."""

    def __init__(self, folder: Path, from_addr: str) -> None:
        super().__init__("outbox", 0, None, None, from_addr)
        self.folder = folder

    async def transmit(self, msg: EmailMessage, to: str) -> None:
        sent_id = str(msg["Message-ID"])
        # Named by the Message-ID: a retried send of one message rewrites the same file.
        name = _UNSAFE_ID.sub("-", sent_id.strip("<>")) + ".eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f".{name}.tmp"
            partial.write_bytes(msg.as_bytes())
            partial.replace(self.folder / name)  # readers never see half a message
        except OSError as exc:
            raise DeliveryFailed(f"outbox {self.folder}: {exc}", retryable=True) from exc


def email_sender(settings: Settings) -> EmailSender | None:
    """SMTP when BILLING_SMTP_HOST is set, else the outbox folder when BILLING_EMAIL_OUTBOX
    is, else none: e-mail is then not configured and messages fail visibly."""
    if settings.smtp_host:
        return EmailSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_from,
        )
    if settings.email_outbox is not None:
        return OutboxSender(settings.email_outbox, settings.smtp_from)
    return None
