"""Structured logs with request ids, and Prometheus metrics."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("billing_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "billing_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
JOBS = Counter("billing_jobs_total", "Jobs run", ["job", "outcome"])


def configure_logging(fmt: str = "auto") -> None:
    """JSON lines in production (not a TTY, or BILLING_LOG_FORMAT=json); readable in a terminal."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info
            if use_json
            else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.INFO, handlers=[_CurrentStderr()], format="%(message)s")


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is now, not the stream seen at start-up (which a test
    runner or a daemonizing supervisor may have closed since)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class RequestContextMiddleware:
    """Gives each request an id (honouring X-Request-Id), logs it, and records metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("billing.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode()[:64]
        request_id = incoming or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = {"code": 500}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or _route_label(scope["path"])
            REQUESTS.labels(method, route, str(status["code"])).inc()
            LATENCY.labels(method, route).observe(elapsed)
            if scope["path"] not in ("/healthz", "/metrics"):
                self.log.info(
                    "request",
                    method=method,
                    path=_loggable_path(scope["path"]),
                    status=status["code"],
                    ms=round(elapsed * 1000, 1),
                )
            structlog.contextvars.unbind_contextvars("request_id")


_SECRET_PATHS = re.compile(r"^(/portal/s/)[^/]+")


def _loggable_path(path: str) -> str:
    """Single-use portal link tokens are credentials: never write them to the logs."""
    return _SECRET_PATHS.sub(r"\1***", path)


def _route_label(path: str) -> str:
    # Keep label cardinality bounded: replace ids such as cus_01J… with a placeholder.
    parts = [("{id}" if "_" in p and len(p) > 20 else p) for p in path.split("/")]
    return "/".join(parts)


def metrics_payload() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
