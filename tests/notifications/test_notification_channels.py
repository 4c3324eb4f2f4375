"""Channels against real servers: aiosmtpd for e-mail, a local aiohttp provider for SMS/WhatsApp."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest

from billing.notifications import MessageContext, render
from billing.notifications.channels import (
    Channel,
    DeliveryFailed,
    EmailSender,
    HttpMessageSender,
    OutgoingMessage,
)

if TYPE_CHECKING:  # fixtures' types only; conftest is not importable as a module
    from conftest import Provider, SmtpServer

OVERDUE = MessageContext(
    merchant_name="Acme Cursos",
    merchant_legal_name="Acme Educação Ltda",
    merchant_document="12345678000190",
    support_email="suporte@acme.com.br",
    support_phone="(11) 4002-8922",
    payer_name="Ana Beatriz Souza",
    amount=12990,
    late_fee=260,
    interest=130,
    days_overdue=10,
    currency="BRL",
    due_at=date(2026, 3, 10),
    installment="Parcela 3 de 12 do Plano Pro",
    portal_url="https://pagar.acme.com.br/p/Xk29fQa8LmZ7",
)

FROM = "Acme Cursos <cobranca@acme.com.br>"


def sender(server: SmtpServer, **kw: object) -> EmailSender:
    return EmailSender(server.host, server.port, None, None, FROM, **kw)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


async def test_pt_br_email_arrives_as_multipart_alternative(smtp_server: SmtpServer) -> None:
    rendered = render("overdue", tone="firm", locale="pt-BR", channel="email", context=OVERDUE)
    assert rendered.subject and rendered.html
    message_id = await sender(smtp_server).send(
        "ana@example.com",
        rendered.subject,
        rendered.text,
        rendered.html,
        {"X-Billing-Invoice": "inv_123"},
        sent_at=datetime(2026, 3, 20, 12, 0, tzinfo=UTC),
    )

    [envelope] = smtp_server.mailbox.envelopes
    assert envelope.mail_from == "cobranca@acme.com.br"
    assert envelope.rcpt_tos == ["ana@example.com"]
    assert isinstance(envelope.content, bytes)
    assert envelope.content.isascii()  # accents travel encoded, no 8-bit surprises
    msg = parse(envelope.content)
    assert msg["Subject"] == rendered.subject
    assert "á" in msg["Subject"] or "ç" in msg["Subject"] or "·" in msg["Subject"]
    assert msg["Message-ID"] == message_id
    assert msg["X-Billing-Invoice"] == "inv_123"
    assert msg["Date"] == "Fri, 20 Mar 2026 12:00:00 +0000"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html is not None
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert plain.get_content_charset() == "utf-8"
    # SMTP carries CRLF line ends; the content is otherwise byte-for-byte ours.
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == rendered.text
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == rendered.html.rstrip("\n")
    for accented in ("Olá, Ana,", "Acme Educação Ltda", "Juros de mora (10 dias)", "R$\xa0133,80"):
        assert accented in plain.get_content()
    assert "Acme Educação Ltda" in html.get_content()


async def test_deliver_uses_idempotency_key_as_message_id(smtp_server: SmtpServer) -> None:
    channel = sender(smtp_server)
    assert isinstance(channel, Channel)
    out = OutgoingMessage(
        channel="email",
        to="ana@example.com",
        subject="Recibo",
        text="Recebemos, obrigado.",
        idempotency_key="msg:inv_123:step/3",
        html=None,
    )
    first = await channel.deliver(out)
    second = await channel.deliver(out)
    assert (
        first.provider_message_id
        == second.provider_message_id
        == "<msg-inv_123-step-3@acme.com.br>"
    )
    assert first.channel == "email" and first.to == "ana@example.com"
    received = [parse(bytes(e.content or b"")) for e in smtp_server.mailbox.envelopes]
    assert [m["Message-ID"] for m in received] == [first.provider_message_id] * 2
    assert received[0].get_content_type() == "text/plain"  # no HTML given: no alternative part


async def test_refused_recipients(smtp_server: SmtpServer) -> None:
    with pytest.raises(DeliveryFailed) as hard:
        await sender(smtp_server).send("nobody@example.com", "Oi", "texto", None)
    assert hard.value.retryable is False and hard.value.status == 550
    with pytest.raises(DeliveryFailed) as soft:
        await sender(smtp_server).send("busy@example.com", "Oi", "texto", None)
    assert soft.value.retryable is True and soft.value.status == 450
    assert smtp_server.mailbox.envelopes == []


async def test_server_down_is_retryable(unused_port: int) -> None:
    down = EmailSender("127.0.0.1", unused_port, None, None, FROM, timeout=2)
    with pytest.raises(DeliveryFailed) as failed:
        await down.send("ana@example.com", "Oi", "texto", None)
    assert failed.value.retryable is True


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_smtp_auth(smtp_auth_server: SmtpServer) -> None:
    assert smtp_auth_server.credentials is not None
    user, password = smtp_auth_server.credentials
    good = EmailSender(smtp_auth_server.host, smtp_auth_server.port, user, password, FROM)
    await good.send("ana@example.com", "Olá", "Conteúdo", None)
    assert len(smtp_auth_server.mailbox.envelopes) == 1
    bad = EmailSender(smtp_auth_server.host, smtp_auth_server.port, user, "wrong", FROM)
    with pytest.raises(DeliveryFailed) as failed:
        await bad.send("ana@example.com", "Olá", "Conteúdo", None)
    assert failed.value.retryable is False and failed.value.status == 535
    assert len(smtp_auth_server.mailbox.envelopes) == 1


def test_reserved_headers_cannot_be_overridden() -> None:
    with pytest.raises(ValueError, match="Subject"):
        EmailSender("127.0.0.1", 25, None, None, FROM).build(
            "a@b.c", "s", "t", None, {"Subject": "x"}
        )


def sms(to: str = "+5511999990000", key: str = "msg:inv_1:d-1") -> OutgoingMessage:
    body = render("reminder", tone="friendly", locale="pt-BR", channel="sms", context=OVERDUE).text
    return OutgoingMessage(channel="sms", to=to, text=body, idempotency_key=key)


async def test_http_provider_accepts(provider: Provider) -> None:
    channel = HttpMessageSender(f"{provider.base_url}/messages/ok", "tok_live_123", "sms")
    assert isinstance(channel, Channel)
    message = sms()
    receipt = await channel.deliver(message)
    assert receipt.provider_message_id == "msg_1"
    assert receipt.channel == "sms" and receipt.to == "+5511999990000"
    [request] = provider.requests
    assert request["headers"]["Authorization"] == "Bearer tok_live_123"
    assert request["headers"]["Idempotency-Key"] == "msg:inv_1:d-1"
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert request["json"] == {
        "to": "+5511999990000",
        "body": message.text,
        "channel": "sms",
        "idempotency_key": "msg:inv_1:d-1",
    }
    assert "Olá, Ana." in request["json"]["body"]  # UTF-8 intact end to end


async def test_whatsapp_channel_name_travels(provider: Provider) -> None:
    channel = HttpMessageSender(f"{provider.base_url}/messages/ok", "t", "whatsapp")
    out = OutgoingMessage(channel="whatsapp", to="+5511999990000", text="Olá", idempotency_key="k")
    await channel.deliver(out)
    assert provider.requests[0]["json"]["channel"] == "whatsapp"
    with pytest.raises(ValueError, match="sms message"):
        await channel.deliver(sms())


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (400, False), (401, False), (422, False)],
)
async def test_http_provider_errors(provider: Provider, status: int, retryable: bool) -> None:
    channel = HttpMessageSender(f"{provider.base_url}/messages/{status}", "tok", "sms")
    with pytest.raises(DeliveryFailed) as failed:
        await channel.deliver(sms())
    assert failed.value.retryable is retryable
    assert failed.value.status == status
    assert str(status) in str(failed.value)
    assert len(provider.requests) == 1  # the sender never retries on its own; the ruler does


async def test_http_provider_timeout_is_retryable(provider: Provider) -> None:
    channel = HttpMessageSender(f"{provider.base_url}/messages/slow", "tok", "sms", timeout=0.3)
    with pytest.raises(DeliveryFailed, match="timed out") as failed:
        await channel.deliver(sms())
    assert failed.value.retryable is True and failed.value.status is None


async def test_http_provider_unreachable_is_retryable(unused_port: int) -> None:
    channel = HttpMessageSender(f"http://127.0.0.1:{unused_port}/messages", "tok", "sms")
    with pytest.raises(DeliveryFailed) as failed:
        await channel.deliver(sms())
    assert failed.value.retryable is True


def test_email_is_not_an_http_channel() -> None:
    with pytest.raises(ValueError, match="SMTP"):
        HttpMessageSender("http://127.0.0.1/x", "tok", "email")
