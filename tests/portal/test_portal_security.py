"""Portal access: single-use, short-lived, hashed tokens; cookie flags; CSRF; isolation
between payers; the login-link rate limit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy import text

from billing.kit.clock import FixedClock
from billing.runtime import Runtime
from tests.conftest import Database, app_client, make_runtime
from tests.portal.portal_world import build_world, csrf_of, enter, open_portal


async def _link(client: AsyncClient, world: object) -> str:
    created = await client.post(
        "/v1/portal_sessions",
        json={"customer_id": world.customer_id},  # type: ignore[attr-defined]
        headers=world.merchant.headers,  # type: ignore[attr-defined]
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("ps_") and body["expires_at"]
    return str(body["url"]).removeprefix("http://testserver.local")


async def test_session_link_is_single_use_and_cookie_is_flagged(
    client: AsyncClient, runtime: Runtime
) -> None:
    world = await build_world(client, runtime)
    path = await _link(client, world)
    first = await enter(client, path)
    assert first.status_code == 303
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/portal" in cookie
    assert "Secure" not in cookie  # plain-http local host
    assert "pl_" not in first.headers["location"]  # the token leaves the URL
    client.cookies.clear()
    again = await client.get(path)
    assert again.status_code == 410
    assert "já foi usado" in again.text
    client.cookies.set("billing_portal_login", "x", path="/portal")
    reused = await client.post(path, data={"csrf_token": "x"})  # a valid Continue, link used
    assert reused.status_code == 410
    assert (await client.get("/portal/")).status_code == 401


async def test_link_prefetch_by_a_mail_scanner_uses_nothing(
    client: AsyncClient, runtime: Runtime
) -> None:
    world = await build_world(client, runtime)
    path = await _link(client, world)
    async with app_client(runtime) as scanner:
        for _ in range(3):  # scanners and link previews fetch the link, sometimes repeatedly
            fetched = await scanner.get(path)
            assert fetched.status_code == 200 and "Continuar" in fetched.text
            assert "billing_portal=" not in fetched.headers.get("set-cookie", "")
        assert (await scanner.get("/portal/")).status_code == 401
    # Pressing Continue without the form's token (a cross-site POST) opens nothing either.
    forged = await client.post(path, data={})
    assert forged.status_code == 403
    assert (await client.get("/portal/")).status_code == 401
    # The payer's own click still works, once.
    entered = await enter(client, path)
    assert entered.status_code == 303
    assert (await client.get("/portal/")).status_code == 200


async def test_secure_cookie_outside_localhost(runtime: Runtime, client: AsyncClient) -> None:
    world = await build_world(client, runtime)
    path = await _link(client, world)
    from billing.app import create_app

    app: Any = create_app(runtime=runtime)  # an ASGI app; httpx types it stricter
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://portal.example.com"
    ) as remote:
        entered = await enter(remote, path)
    assert entered.status_code == 303
    assert "Secure" in entered.headers["set-cookie"]


async def test_expired_and_forged_tokens(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime)
    path = await _link(client, world)
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(minutes=11))
    expired = await client.get(path)
    assert expired.status_code == 410 and "expirou" in expired.text
    # A well-formed Continue (matching double-submit token) on a dead link still opens nothing.
    form = {"csrf_token": "t"}
    client.cookies.set("billing_portal_login", "t", path="/portal")
    expired_post = await client.post(path, data=form)
    assert expired_post.status_code == 410 and "expirou" in expired_post.text
    forged = await client.get(path[:-4] + "AAAA")
    assert forged.status_code == 404
    assert (await client.post(path[:-4] + "AAAA", data=form)).status_code == 404
    garbage = await client.get("/portal/s/not-a-token")
    assert garbage.status_code == 404
    assert (await client.get("/portal/")).status_code == 401


async def test_tokens_are_stored_hashed(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime)
    path = await _link(client, world)
    raw = path.rsplit("/", 1)[-1]
    entered = await enter(client, path)
    session_raw = entered.cookies.get("billing_portal") or client.cookies.get("billing_portal")
    assert session_raw
    async with runtime.session_factory() as session:
        rows = (
            await session.execute(text("SELECT link_hash, session_hash FROM portal_sessions"))
        ).all()
    stored = " ".join(f"{a} {b}" for a, b in rows)
    assert raw not in stored and session_raw not in stored


async def test_csrf_is_required_on_forms(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime, card="pm_card_visa")
    await open_portal(client, world)
    url = f"/portal/subscriptions/{world.subscription_id}/cancel"
    missing = await client.post(url, data={})
    assert missing.status_code == 403
    wrong = await client.post(url, data={"csrf_token": "0" * 64})
    assert wrong.status_code == 403
    sub = (
        await client.get(
            f"/v1/subscriptions/{world.subscription_id}", headers=world.merchant.headers
        )
    ).json()
    assert sub["cancel_at_period_end"] is False


async def test_another_payers_ids_are_404(client: AsyncClient, runtime: Runtime) -> None:
    mine = await build_world(client, runtime, email="a@example.com")
    theirs = await build_world(client, runtime, email="b@example.com")
    await open_portal(client, mine)
    page = await client.get("/portal/")
    csrf = csrf_of(page.text)
    methods = (
        await client.get(
            f"/v1/customers/{theirs.customer_id}/payment_methods",
            headers=theirs.merchant.headers,
        )
    ).json()["data"]
    assert (await client.get(f"/portal/invoices/{theirs.invoice_id}")).status_code == 404
    assert (await client.get(f"/portal/invoices/{theirs.invoice_id}/pay")).status_code == 404
    paid = await client.post(
        f"/portal/invoices/{theirs.invoice_id}/pay",
        data={"csrf_token": csrf, "payment_method_id": "pix"},
    )
    assert paid.status_code == 404
    sub_url = f"/portal/subscriptions/{theirs.subscription_id}"
    assert (await client.get(f"{sub_url}/cancel")).status_code == 404
    assert (await client.post(f"{sub_url}/cancel", data={"csrf_token": csrf})).status_code == 404
    assert (await client.get(f"{sub_url}/change_plan")).status_code == 404
    removed = await client.post(
        f"/portal/methods/{methods[0]['id']}/remove", data={"csrf_token": csrf}
    )
    assert removed.status_code == 404
    # Paying my invoice with their saved card is refused too.
    mine_paid = await client.post(
        f"/portal/invoices/{mine.invoice_id}/pay",
        data={"csrf_token": csrf, "payment_method_id": methods[0]["id"]},
    )
    assert mine_paid.status_code == 404
    # A merchant cannot open a session for another merchant's customer.
    cross = await client.post(
        "/v1/portal_sessions",
        json={"customer_id": theirs.customer_id},
        headers=mine.merchant.headers,
    )
    assert cross.status_code == 404


async def test_logout_ends_the_session(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime)
    await open_portal(client, world)
    page = await client.get("/portal/")
    cookie = client.cookies.get("billing_portal")
    out = await client.post("/portal/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and "/login" in out.headers["location"]
    assert cookie
    client.cookies.set("billing_portal", cookie, path="/portal")
    assert (await client.get("/portal/")).status_code == 401


def _client_at(runtime: Runtime, ip: str) -> httpx.AsyncClient:
    """A client with its own address: the per-IP limit is counted across the shared test DB."""
    from billing.app import create_app

    app: Any = create_app(runtime=runtime)  # an ASGI app; httpx types it stricter
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


def _random_ip() -> str:
    import random

    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def _login_form(client: AsyncClient, merchant_id: str) -> str:
    form = await client.get(f"/portal/{merchant_id}/login")
    assert form.status_code == 200
    return csrf_of(form.text)


async def test_login_link_same_answer_and_rate_limited(
    client: AsyncClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    world = await build_world(client, runtime)
    url = f"/portal/{world.merchant.id}/login"
    client = _client_at(runtime, _random_ip())
    csrf = await _login_form(client, world.merchant.id)
    known = await client.post(url, data={"csrf_token": csrf, "email": world.email})
    unknown = await client.post(url, data={"csrf_token": csrf, "email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(world.email, "X") == unknown.text.replace("nobody@example.com", "X")
    for _ in range(2):
        assert (
            await client.post(url, data={"csrf_token": csrf, "email": world.email})
        ).status_code == 200
    limited = await client.post(url, data={"csrf_token": csrf, "email": world.email})
    assert limited.status_code == 429
    # An unknown address is limited exactly the same way (no existence oracle).
    for _ in range(2):
        await client.post(url, data={"csrf_token": csrf, "email": "nobody@example.com"})
    assert (
        await client.post(url, data={"csrf_token": csrf, "email": "nobody@example.com"})
    ).status_code == 429
    no_csrf = await client.post(url, data={"email": "x@example.com"})
    assert no_csrf.status_code == 403


async def test_login_link_rate_limit_per_ip(client: AsyncClient, runtime: Runtime) -> None:
    world = await build_world(client, runtime)
    url = f"/portal/{world.merchant.id}/login"
    from billing.portal.login import MAX_PER_IP

    async with _client_at(runtime, _random_ip()) as remote:
        csrf = await _login_form(remote, world.merchant.id)
        statuses = [
            (
                await remote.post(url, data={"csrf_token": csrf, "email": f"p{i}@example.com"})
            ).status_code
            for i in range(MAX_PER_IP + 1)
        ]
    assert statuses[:-1] == [200] * MAX_PER_IP and statuses[-1] == 429


async def test_login_link_arrives_and_opens_the_portal(
    runtime: Runtime, client: AsyncClient
) -> None:
    from billing.portal import login

    world = await build_world(client, runtime)
    sent: list[login.LoginEmail] = []

    async def capture(settings: object, email: login.LoginEmail) -> None:
        sent.append(email)

    original = login.send_login_email
    login.send_login_email = capture
    try:
        async with _client_at(runtime, _random_ip()) as fresh:
            csrf = await _login_form(fresh, world.merchant.id)
            await fresh.post(
                f"/portal/{world.merchant.id}/login",
                data={"csrf_token": csrf, "email": world.email.upper()},
            )
            assert len(sent) == 1 and sent[0].to == world.email
            link = next(w for w in sent[0].text.split() if "/portal/s/" in w)
            entered = await enter(fresh, link.removeprefix("http://testserver.local"))
            assert entered.status_code == 303
            assert (await fresh.get("/portal/")).status_code == 200
    finally:
        login.send_login_email = original


async def test_login_link_in_the_outbox_opens_the_portal(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    """The quick start has no mail server: the login e-mail is an .eml in the outbox, and
    its link works."""
    import email
    from email import policy
    from email.message import EmailMessage

    runtime = await make_runtime(database, clock, email_outbox=tmp_path / "outbox")
    try:
        async with app_client(runtime) as api:
            world = await build_world(api, runtime)
        async with _client_at(runtime, _random_ip()) as fresh:
            csrf = await _login_form(fresh, world.merchant.id)
            await fresh.post(
                f"/portal/{world.merchant.id}/login",
                data={"csrf_token": csrf, "email": world.email},
            )
            (path,) = (tmp_path / "outbox").glob("*.eml")
            message = email.message_from_bytes(
                path.read_bytes(), _class=EmailMessage, policy=policy.default
            )
            assert message["To"] == world.email
            body = message.get_body(("plain",))
            assert body is not None
            link = next(w for w in body.get_content().split() if "/portal/s/" in w)
            entered = await enter(fresh, link.removeprefix("http://testserver.local"))
            assert entered.status_code == 303
            assert (await fresh.get("/portal/")).status_code == 200
    finally:
        await runtime.close()
