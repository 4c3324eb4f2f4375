"""Portal pages that read: entry by link, overview, installments, methods, help; plus
login by e-mail, language switch and logout."""

from __future__ import annotations

from litestar import get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from billing.http import AUTOCOMMIT_READS
from billing.kit.clock import Clock
from billing.kit.errors import NotFound
from billing.models import Merchant
from billing.portal import login, sessions, views
from billing.portal.overview import read_overview
from billing.portal.sessions import MerchantFace, Payer
from billing.portal.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AnyRequest,
    Form,
    PortalController,
    cleared_cookie,
    local_path,
    login_csrf_cookie,
    new_login_csrf,
    redirect,
    render,
    session_cookie,
    settings_of,
)

READS = {AUTOCOMMIT_READS: True}  # pages that only read (billing.http)


class PortalPages(PortalController):
    @get("/s/{token:str}")
    async def enter_form(
        self, request: AnyRequest, token: str, db_session: AsyncSession, clock: Clock, state: State
    ) -> Template:
        """A "Continue" button, the token left unused: e-mail scanners and link previews
        fetch links with GET, and must not burn the payer's single-use link."""
        merchant, locale = await sessions.check_link(db_session, token, now=clock.now())
        form_token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
        return render(
            request,
            "enter.html.jinja",
            merchant=merchant,
            locale=locale,
            token=token,
            login_csrf=form_token,
            cookies=[login_csrf_cookie(request, settings_of(state), form_token)],
        )

    @post("/s/{token:str}")
    async def enter(
        self, request: AnyRequest, token: str, db_session: AsyncSession, clock: Clock, state: State
    ) -> Redirect:
        """Swap the single-use link for a session cookie; the token leaves the URL."""
        _, session_raw = await sessions.redeem_link(db_session, token, now=clock.now())
        cookie = session_cookie(request, settings_of(state), session_raw)
        return redirect("/portal/", cookies=[cookie])

    @get("/", opt=READS)
    async def overview(
        self, request: AnyRequest, db_reader: AsyncConnection, clock: Clock
    ) -> Template:
        # The busiest page checks the session in its own single query (no payer dependency).
        cookie = request.cookies.get(SESSION_COOKIE)
        payer, page = await read_overview(db_reader, cookie, clock.now())
        request.state.portal_payer = payer  # error pages keep the payer's brand and language
        return render(request, "overview.html.jinja", payer=payer, page=page)

    @get("/invoices", opt=READS)
    async def invoices(
        self, request: AnyRequest, payer: Payer, db_session: AsyncSession, clock: Clock
    ) -> Template:
        rows = await views.all_invoices(db_session, payer, clock.now())
        return render(request, "invoices.html.jinja", payer=payer, rows=rows)

    @get("/invoices/{invoice_id:str}", opt=READS)
    async def invoice(
        self,
        request: AnyRequest,
        invoice_id: str,
        payer: Payer,
        db_session: AsyncSession,
        clock: Clock,
    ) -> Template:
        detail = await views.invoice_detail(db_session, payer, invoice_id, clock.now())
        return render(request, "invoice.html.jinja", payer=payer, detail=detail)

    @get("/methods", opt=READS)
    async def methods(
        self, request: AnyRequest, payer: Payer, db_session: AsyncSession
    ) -> Template:
        rows = await views.methods_of(db_session, payer)
        return render(request, "methods.html.jinja", payer=payer, methods=rows)

    @get("/help", opt=READS)
    async def help(self, request: AnyRequest, payer: Payer) -> Template:
        return render(request, "help.html.jinja", payer=payer)

    @post("/locale")
    async def switch_locale(self, data: Form, payer: Payer, db_session: AsyncSession) -> Redirect:
        await sessions.set_locale(db_session, payer, data.get("locale", ""))
        return redirect(local_path(data.get("next"), "/portal/"))

    @post("/logout")
    async def logout(
        self,
        request: AnyRequest,
        payer: Payer,
        db_session: AsyncSession,
        clock: Clock,
        state: State,
    ) -> Redirect:
        await sessions.end_session(db_session, payer, now=clock.now())
        cookie = cleared_cookie(request, settings_of(state))
        target = f"/portal/{payer.merchant_id}/login?notice=logout.done&lang={payer.locale}"
        return redirect(target, cookies=[cookie])

    @get("/{merchant_id:str}/login")
    async def login_form(
        self, request: AnyRequest, merchant_id: str, db_session: AsyncSession, state: State
    ) -> Template:
        merchant = await _merchant(db_session, merchant_id)
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
        cookie = login_csrf_cookie(request, settings_of(state), token)
        return render(
            request, "login.html.jinja", merchant=merchant, login_csrf=token, cookies=[cookie]
        )

    @post("/{merchant_id:str}/login")
    async def login_submit(
        self,
        request: AnyRequest,
        merchant_id: str,
        data: Form,
        db_session: AsyncSession,
        clock: Clock,
        state: State,
    ) -> Template:
        merchant = await _merchant(db_session, merchant_id)
        email = data.get("email", "").strip()[:320]
        settings = settings_of(state)
        ip = request.client.host if request.client else "unknown"
        try:
            message = await login.request_login_link(
                db_session, settings, merchant.id, email=email, ip=ip, now=clock.now()
            )
        except login.LoginRateLimited:
            return render(
                request,
                "login_sent.html.jinja",
                merchant=merchant,
                limited=True,
                email=email,
                status=429,
            )
        background = BackgroundTask(login.send_login_email, settings, message) if message else None
        return render(
            request,
            "login_sent.html.jinja",
            merchant=merchant,
            limited=False,
            email=email,
            background=background,
        )


async def _merchant(session: AsyncSession, merchant_id: str) -> MerchantFace:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound(f"No merchant {merchant_id}")
    return MerchantFace.of(merchant)
