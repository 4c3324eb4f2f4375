"""A real SMTP server (aiosmtpd) and a runtime that sends e-mail to it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from tests.conftest import Database, make_runtime

from billing.runtime import Runtime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            message_from_bytes(e.content, policy=policy.default)
            for e in self.envelopes
            if isinstance(e.content, bytes)
        ]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@dataclass
class Smtp:
    host: str
    port: int
    inbox: Inbox


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield Smtp("127.0.0.1", controller.port, inbox)
    finally:
        controller.stop()


@pytest.fixture
async def mail_runtime(database: Database, clock: Any, smtp: Smtp) -> AsyncIterator[Runtime]:
    rt = await make_runtime(
        database, clock, smtp_host=smtp.host, smtp_port=smtp.port,
        smtp_from="cobranca@academiaforte.com.br",
    )  # fmt: skip
    yield rt
    await rt.close()
