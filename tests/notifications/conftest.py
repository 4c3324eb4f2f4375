"""Real servers for the channel tests: aiosmtpd for SMTP, aiohttp for the SMS/WhatsApp provider."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """Keeps what the server accepted; some addresses are refused on purpose."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@"):
            return "450 4.2.1 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox
    credentials: tuple[str, str] | None = None


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    return free_port()


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    # handled=False: let aiosmtpd itself answer 535 on failure.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=False,  # test-only: no certificate on 127.0.0.1
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox, (SMTP_USER, SMTP_PASSWORD))
    finally:
        controller.stop()


@dataclass
class Provider:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    """A stand-in SMS/WhatsApp provider; the path picks its answer."""
    state = Provider(base_url="")

    async def handle(request: web.Request) -> web.Response:
        state.requests.append(
            {
                "path": request.path,
                "headers": dict(request.headers),
                "json": await request.json(),
            }
        )
        behaviour = request.match_info["behaviour"]
        if behaviour == "ok":
            return web.json_response({"id": f"msg_{len(state.requests)}", "status": "queued"})
        if behaviour == "slow":
            await asyncio.sleep(2)
            return web.json_response({"id": "late"})
        status = int(behaviour)
        return web.json_response({"error": f"status {status}"}, status=status)

    app = web.Application()
    app.router.add_post("/messages/{behaviour}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base_url = f"http://{host}:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()
