"""Fixtures for webhooks: localstripe, a live HTTP server for the app, a receiver for ours."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from aiohttp import web

from tests.fixtures_stripe import localstripe_url  # noqa: F401  (a session fixture)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """The app as a real HTTP server (uvicorn) on a free port, in this event loop."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Receiver:
    """A merchant's webhook receiver: answers from a script of status codes, logs each POST."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    default_status: int = 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        status = self.script.pop(0) if self.script else self.default_status
        if 200 <= status < 300:
            self.accepted.append(json.loads(body))
        return web.Response(status=status, text="ok" if status < 300 else "nope")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    recv.url = f"http://127.0.0.1:{port}/hook"
    yield recv
    await runner.cleanup()


@pytest.fixture
def clock() -> Any:
    """Real "now": Stripe signs with the wall clock and checks 300 s against ours."""
    from datetime import UTC, datetime

    from billing.kit.clock import FixedClock

    return FixedClock(datetime.now(UTC).replace(microsecond=0))
