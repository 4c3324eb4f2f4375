"""Idempotency-Key for every POST, exactly as API.md says.

Same key + same request → the first response again (status and body); same key with another
request → 409 ``idempotency_key_reused``; a key whose first request is still running → 409
``idempotency_key_in_progress``. The key is claimed in its own committed transaction before the
handler runs, so two concurrent requests cannot both get past the claim.

Stored responses are encrypted: some carry secrets shown once (API keys, webhook secrets).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from billing.idempotency.store import RETENTION
from billing.kit.errors import PROBLEM_JSON
from billing.merchants.service import authenticate
from billing.models import IdempotencyKey
from billing.runtime import Runtime

# A claim older than this is taken to belong to a process that died mid-request.
STALE_CLAIM = timedelta(minutes=2)
KEPT_HEADERS = ("content-type", "location")


def _problem(status: int, code: str, detail: str) -> tuple[int, bytes]:
    body = {
        "type": f"https://billing.dev/problems/{code}",
        "title": "Conflict",
        "status": status,
        "detail": detail,
        "code": code,
    }
    return status, json.dumps(body).encode()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, runtime_getter: Any) -> None:
        self.app = app
        self.runtime_getter = runtime_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("idempotency-key", "").strip()
        if not key:
            await self.app(scope, receive, send)
            return
        runtime: Runtime = self.runtime_getter(scope)
        body = await _read_body(receive)
        scope_id = await _scope_for(runtime, headers.get("authorization", ""))
        if scope_id is None:  # unauthenticated: let the handler answer 401
            await self.app(scope, _replay_receive(body), send)
            return
        digest = hashlib.sha256(
            b"\n".join([scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        if len(key) > 255:
            _, too_long = _problem(400, "validation_error", "Idempotency-Key is too long")
            await _send(send, 400, too_long, [("content-type", PROBLEM_JSON)])
            return
        verdict = await _claim(runtime, scope_id, key, digest)
        if verdict is not None:
            status, resp_body, resp_headers = verdict
            await _send(send, status, resp_body, resp_headers)
            return
        recorded: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                recorded["status"] = message["status"]
                recorded["headers"] = [
                    (k.decode(), v.decode())
                    for k, v in message.get("headers", [])
                    if k.decode().lower() in KEPT_HEADERS
                ]
            elif message["type"] == "http.response.body":
                recorded["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replay_receive(body), recording_send)
        except BaseException:
            await _release(runtime, scope_id, key)
            raise
        if recorded["status"] >= 500:
            # Nothing was committed by a failed request: let the client retry with the key.
            await _release(runtime, scope_id, key)
        else:
            await _complete(runtime, scope_id, key, recorded)


async def _scope_for(runtime: Runtime, authorization: str) -> str | None:
    scheme, _, raw = authorization.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    async with runtime.session_factory() as session:
        found = await authenticate(session, raw.strip())
    return found[0].id if found else None


async def _claim(
    runtime: Runtime, scope_id: str, key: str, digest: str
) -> tuple[int, bytes, list[tuple[str, str]]] | None:
    """Returns None when this request now owns the key, else the response to send."""
    for _ in range(3):
        async with runtime.session_factory() as session:
            now = await runtime.clock.sync(session)
            existing = await session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.scope == scope_id, IdempotencyKey.key == key
                )
            )
            expired = existing is not None and existing.created_at < now - RETENTION
            stale = (
                existing is not None
                and existing.status == "in_progress"
                and existing.created_at < now - STALE_CLAIM
            )
            if existing is not None and not expired and not stale:
                verdict = _verdict(existing, digest, runtime)
                await session.rollback()
                return verdict
            if existing is not None:
                await session.delete(existing)
                await session.flush()
            session.add(
                IdempotencyKey(
                    scope=scope_id,
                    key=key,
                    request_hash=digest,
                    status="in_progress",
                    created_at=now,
                )
            )
            try:
                await session.commit()
                return None
            except IntegrityError:
                await session.rollback()
                continue  # someone claimed it between our read and insert: read theirs
    status, body = _problem(
        409, "idempotency_key_in_progress", "A request with this key is running."
    )
    return status, body, [("content-type", PROBLEM_JSON)]


def _verdict(
    row: IdempotencyKey, digest: str, runtime: Runtime
) -> tuple[int, bytes, list[tuple[str, str]]]:
    problem_headers = [("content-type", PROBLEM_JSON)]
    if row.request_hash != digest:
        status, body = _problem(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request.",
        )
        return status, body, problem_headers
    if row.status != "complete":
        status, body = _problem(
            409,
            "idempotency_key_in_progress",
            "The first request with this Idempotency-Key is still running; retry shortly.",
        )
        return status, body, problem_headers
    headers = [(str(k), str(v)) for k, v in json.loads(row.response_headers or "[]")]
    headers.append(("idempotent-replayed", "true"))
    body = runtime.secret_box.decrypt(bytes(row.response_body or b"").decode()).encode()
    return int(row.response_status or 200), body, headers


async def _complete(runtime: Runtime, scope_id: str, key: str, recorded: dict[str, Any]) -> None:
    async with runtime.session_factory() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.scope == scope_id, IdempotencyKey.key == key)
            .values(
                status="complete",
                response_status=recorded["status"],
                response_headers=json.dumps(recorded["headers"]),
                response_body=runtime.secret_box.encrypt(bytes(recorded["body"]).decode()).encode(),
            )
        )
        await session.commit()


async def _release(runtime: Runtime, scope_id: str, key: str) -> None:
    async with runtime.session_factory() as session:
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.scope == scope_id,
                IdempotencyKey.key == key,
                IdempotencyKey.status == "in_progress",
            )
        )
        await session.commit()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            break
    return b"".join(chunks)


def _replay_receive(body: bytes) -> Receive:
    sent = False

    async def receive() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
    raw_headers = [(k.encode(), v.encode()) for k, v in headers]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
