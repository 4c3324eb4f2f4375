"""Without a mail server (the quick start), e-mail goes to an outbox folder of .eml files:
the ruler's messages are readable there and recorded as sent; with neither SMTP nor an
outbox, e-mail is not configured and says so."""

from __future__ import annotations

import email
from datetime import date, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.collection.test_ruler import _email, _installment, _setup, _tick, local
from tests.conftest import Database, make_runtime, settings_for

from billing.config import Settings
from billing.models import CollectionMessage
from billing.notifications.channels import EmailSender, OutboxSender, email_sender


def _read(folder: Path) -> list[EmailMessage]:
    """The .eml files as a mail client reads them (encoded words decoded)."""
    return [
        email.message_from_bytes(p.read_bytes(), _class=EmailMessage, policy=policy.default)
        for p in sorted(folder.glob("*.eml"))
    ]


async def test_outbox_writes_one_readable_file_per_message(tmp_path: Path) -> None:
    sender = OutboxSender(tmp_path / "outbox", "cobranca@academiaforte.com.br")
    sent = await sender.send(
        "maria@example.com", "Sua parcela", "Texto", "<p>HTML</p>", message_id="<m-1@x>"
    )
    again = await sender.send(
        "maria@example.com", "Sua parcela", "Texto", "<p>HTML</p>", message_id="<m-1@x>"
    )
    (message,) = _read(tmp_path / "outbox")  # the retry rewrote the same file
    assert sent == again == "<m-1@x>" == message["Message-ID"]
    assert message["To"] == "maria@example.com" and message["Subject"] == "Sua parcela"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and plain.get_content().strip() == "Texto"
    assert html is not None and "<p>HTML</p>" in html.get_content()
    assert not list((tmp_path / "outbox").glob(".*.tmp"))


async def test_ruler_email_lands_in_the_outbox_and_is_recorded_sent(
    database: Database, clock: Any, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    runtime = await make_runtime(database, clock, email_outbox=outbox)
    try:
        merchant, client = await _setup(runtime)
        payer = _email()
        await _installment(runtime, merchant, payer)
        await _tick(runtime, clock, local(date(2026, 3, 2) + timedelta(days=1), 10, 0))
        (message,) = _read(outbox)
        assert message["To"] == payer and "Sua parcela está em aberto" in message["Subject"]
        async with runtime.session_factory() as session:
            row = (
                await session.scalars(
                    select(CollectionMessage).where(CollectionMessage.merchant_id == merchant.id)
                )
            ).one()
        assert row.status == "sent" and row.provider_message_id == message["Message-ID"]
        await client.aclose()
    finally:
        await runtime.close()


def test_smtp_comes_first_then_the_outbox_then_nothing(tmp_path: Path) -> None:
    db = Database("sqlite", "sqlite+aiosqlite:///unused.sqlite3")
    both = email_sender(settings_for(db, smtp_host="mail.local", email_outbox=tmp_path))
    assert isinstance(both, EmailSender) and not isinstance(both, OutboxSender)
    assert isinstance(email_sender(settings_for(db, email_outbox=tmp_path)), OutboxSender)
    assert email_sender(settings_for(db)) is None


def test_outbox_folder_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BILLING_EMAIL_OUTBOX", str(tmp_path / "out"))
    assert Settings.from_env().email_outbox == (tmp_path / "out").resolve()
    monkeypatch.delenv("BILLING_EMAIL_OUTBOX")
    assert Settings.from_env().email_outbox is None
