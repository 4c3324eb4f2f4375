"""``/console``: the merchant's server-rendered pages (dashboard, debtor worklist,
customer history with note and promise forms) behind a cookie session."""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.policy import CHANNELS, STEP_TEMPLATES, TONES
from billing.collection.promises import create_promise, get_customer
from billing.collection.settings import (
    get_collection,
    get_dunning,
    get_late_fees,
    get_negotiation,
    put_collection,
    put_dunning,
    put_late_fees,
    put_negotiation,
)
from billing.console import policy_forms, service
from billing.console.charts import money
from billing.console.views import (
    dashboard,
    history_lines,
    parse_amount,
    ruler_form,
    ruler_from_form,
)
from billing.history.service import add_note, customer_history
from billing.http import get_runtime
from billing.kit.clock import Clock
from billing.kit.errors import NotFound, ProblemError
from billing.kit.secrets import constant_time_equal
from billing.models import Merchant
from billing.plans import service as plans
from billing.plans.schemas import PlanCreate
from billing.reports.service import DEBTOR_SORTS, debtors
from billing.subscriptions.periods import INTERVALS

COOKIE = "console_session"
# Double-submit token for the login form: without it another site could post its own key
# and log the merchant's browser into the attacker's console (login CSRF).
LOGIN_COOKIE = "console_login"
LOGIN_TTL = 1800
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "testserver.local"})
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
SORT_NAMES = {"amount": "Amount", "days_overdue": "Days overdue", "score": "Score"}
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["jinja"]),
)


def _secret(request: Request[Any, Any, Any]) -> str:
    return get_runtime(request.app.state).settings.secret_key


def _page(
    request: Request[Any, Any, Any], template: str, merchant: Merchant | None,
    status: int = 200, **context: Any,
) -> Response[str]:  # fmt: skip
    raw = request.cookies.get(COOKIE)
    csrf = service.csrf_token(_secret(request), raw) if merchant and raw else ""
    currency = merchant.currency if merchant else "BRL"
    html = _env.get_template(template).render(
        merchant=merchant, csrf=csrf, money=lambda v: money(v, currency), **context
    )
    return Response(
        html, media_type="text/html; charset=utf-8", status_code=status, headers=HEADERS
    )


def _cookie(request: Request[Any, Any, Any], value: str, max_age: int) -> Cookie:
    # Secure everywhere but plain-http local development (a browser would drop it there).
    local = (request.url.hostname or "") in LOCAL_HOSTS and request.url.scheme == "http"
    return Cookie(
        key=COOKIE, value=value, path="/console", httponly=True, samesite="strict",
        secure=not local, max_age=max_age,
    )  # fmt: skip


async def _signed_in(
    request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock
) -> Merchant | None:
    return await service.current_merchant(db_session, request.cookies.get(COOKIE), now=clock.now())


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def _csrf_ok(request: Request[Any, Any, Any], form: dict[str, str]) -> bool:
    return service.csrf_ok(_secret(request), request.cookies.get(COOKIE), form.get("csrf_token"))


async def _form_post(
    request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock
) -> tuple[Merchant, dict[str, str]] | Response[Any]:
    """A console form post: the signed-in merchant and its form, or the answer to send
    instead (the login page, or 403 when the CSRF token does not match the session)."""
    merchant = await _signed_in(request, db_session, clock)
    if merchant is None:
        return Redirect("/console/login")
    form = await _form(request)
    if not _csrf_ok(request, form):
        return _forbidden(request, merchant)
    return merchant, form


def _forbidden(request: Request[Any, Any, Any], merchant: Merchant | None) -> Response[str]:
    return _page(
        request, "login.html.jinja", None, status=403,
        error="The form expired. Reload the page and try again.",
    ) if merchant is None else _page(
        request, "login.html.jinja", merchant, status=403,
        error="The form expired. Go back, reload the page and try again.",
    )  # fmt: skip


def _login_form(
    request: Request[Any, Any, Any], status: int = 200, **context: Any
) -> Response[str]:
    token = secrets.token_hex(16)
    response = _page(request, "login.html.jinja", None, status=status, login_csrf=token, **context)
    local = (request.url.hostname or "") in LOCAL_HOSTS and request.url.scheme == "http"
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=LOGIN_TTL, path="/console", httponly=True,
        samesite="strict", secure=not local,
    )  # fmt: skip
    return response


class ConsoleController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/login")
    async def login_page(self, request: Request[Any, Any, Any]) -> Response[str]:
        return _login_form(request)

    @post("/login", status_code=303)
    async def login(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock
    ) -> Response[Any]:
        form = await _form(request)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not constant_time_equal(expected, form.get("csrf_token", "")):
            return _login_form(
                request, status=403, error="The form expired. Reload the page and try again."
            )
        opened = await service.open_session(db_session, form.get("api_key", ""), now=clock.now())
        if opened is None:
            return _login_form(request, status=401, error="That key is wrong or has been revoked.")
        raw, _ = opened
        max_age = int(service.SESSION_TTL.total_seconds())
        return Redirect("/console", status_code=303, cookies=[_cookie(request, raw, max_age)])

    @post("/logout", status_code=303)
    async def logout(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock
    ) -> Response[Any]:
        form = await _form(request)
        if not _csrf_ok(request, form):
            return _forbidden(request, None)
        await service.end_session(db_session, request.cookies.get(COOKIE), now=clock.now())
        return Redirect("/console/login", status_code=303, cookies=[_cookie(request, "", 0)])

    @get("/")
    async def home(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock
    ) -> Response[Any]:
        merchant = await _signed_in(request, db_session, clock)
        if merchant is None:
            return Redirect("/console/login")
        board = await dashboard(db_session, merchant, now=clock.now())
        return _page(request, "dashboard.html.jinja", merchant, board=board)

    @get("/debtors")
    async def worklist(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock,
        sort: str = "score", starting_after: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        merchant = await _signed_in(request, db_session, clock)
        if merchant is None:
            return Redirect("/console/login")
        if sort not in DEBTOR_SORTS:
            sort = "score"
        page = await debtors(
            db_session, merchant.id, now=clock.now(), sort=sort, limit=50,
            starting_after=starting_after,
        )  # fmt: skip
        return _page(
            request, "debtors.html.jinja", merchant, rows=page.rows, has_more=page.has_more,
            sort=sort, sorts=list(SORT_NAMES.items()),
        )  # fmt: skip

    async def _customer_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, merchant: Merchant,
        customer_id: str, status: int = 200, **context: Any,
    ) -> Response[str]:  # fmt: skip
        customer = await get_customer(db_session, merchant.id, customer_id)
        entries, _ = await customer_history(db_session, merchant.id, customer_id, limit=100)
        lines = history_lines(entries, merchant.currency, merchant.timezone)
        return _page(
            request, "customer.html.jinja", merchant, status=status, customer=customer,
            history=lines, **context,
        )  # fmt: skip

    @get("/customers/{customer_id:str}")
    async def customer(
        self, request: Request[Any, Any, Any], customer_id: str, db_session: AsyncSession,
        clock: Clock, saved: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        merchant = await _signed_in(request, db_session, clock)
        if merchant is None:
            return Redirect("/console/login")
        notice = {"note": "Note saved.", "promise": "Promise to pay saved."}.get(saved or "")
        return await self._customer_page(request, db_session, merchant, customer_id, notice=notice)

    @post("/customers/{customer_id:str}/notes", status_code=303)
    async def note(
        self, request: Request[Any, Any, Any], customer_id: str, db_session: AsyncSession,
        clock: Clock,
    ) -> Response[Any]:  # fmt: skip
        posted = await _form_post(request, db_session, clock)
        if isinstance(posted, Response):
            return posted
        merchant, form = posted
        try:
            await add_note(db_session, merchant.id, customer_id, form.get("body", ""),
                           now=clock.now())  # fmt: skip
        except ProblemError as exc:
            if exc.status != 422:
                raise
            return await self._customer_page(
                request, db_session, merchant, customer_id, status=422, error=exc.detail
            )
        return Redirect(f"/console/customers/{customer_id}?saved=note", status_code=303)

    @post("/customers/{customer_id:str}/promises", status_code=303)
    async def promise(
        self, request: Request[Any, Any, Any], customer_id: str, db_session: AsyncSession,
        clock: Clock,
    ) -> Response[Any]:  # fmt: skip
        posted = await _form_post(request, db_session, clock)
        if isinstance(posted, Response):
            return posted
        merchant, form = posted
        amount = parse_amount(form.get("amount", ""))
        try:
            promised = date.fromisoformat(form.get("date", ""))
        except ValueError:
            promised = None
        try:
            if amount is None or promised is None:
                raise ProblemError(
                    "Give an amount such as 150.00 and a date.", status=422,
                    code="validation_error",
                )  # fmt: skip
            await create_promise(
                db_session, merchant, customer_id, amount=amount, promised_date=promised,
                now=clock.now(),
            )  # fmt: skip
        except ProblemError as exc:
            if exc.status != 422:
                raise
            return await self._customer_page(
                request, db_session, merchant, customer_id, status=422,
                error=f"Promise not saved: {exc.detail}",
            )  # fmt: skip
        return Redirect(f"/console/customers/{customer_id}?saved=promise", status_code=303)

    def _ruler_page(
        self, request: Request[Any, Any, Any], merchant: Merchant, form: dict[str, Any],
        status: int = 200, **context: Any,
    ) -> Response[str]:  # fmt: skip
        return _page(
            request, "ruler.html.jinja", merchant, status=status, form=form,
            channels=CHANNELS, templates=STEP_TEMPLATES, tones=TONES, **context,
        )  # fmt: skip

    @get("/settings/ruler")
    async def ruler(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock,
        saved: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        merchant = await _signed_in(request, db_session, clock)
        if merchant is None:
            return Redirect("/console/login")
        form = ruler_form(await get_collection(db_session, merchant.id))
        return self._ruler_page(request, merchant, form, notice="Ruler saved." if saved else None)

    @post("/settings/ruler", status_code=303)
    async def save_ruler(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock
    ) -> Response[Any]:
        merchant = await _signed_in(request, db_session, clock)
        if merchant is None:
            return Redirect("/console/login")
        submitted = await _form(request)
        if not _csrf_ok(request, submitted):
            return _forbidden(request, merchant)
        body, shown = ruler_from_form(submitted)
        try:
            await put_collection(db_session, merchant.id, body)
        except ProblemError as exc:
            if exc.status != 422:
                raise
            return self._ruler_page(
                request, merchant, shown, status=422, errors=exc.errors or [
                    {"field": "ruler", "message": exc.detail}
                ],
            )  # fmt: skip
        return Redirect("/console/settings/ruler?saved=1", status_code=303)

    async def _plans_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, merchant: Merchant,
        form: dict[str, str] | None = None, status: int = 200, **context: Any,
    ) -> Response[str]:  # fmt: skip
        rows, _ = await plans.list_plans(
            db_session, merchant.id, active=None, limit=100, starting_after=None
        )
        blank = {"name": "", "amount": "", "interval": "month", "interval_count": "1",
                 "trial_days": "0"}  # fmt: skip
        return _page(
            request, "plans.html.jinja", merchant, status=status, plans=rows,
            intervals=INTERVALS, form=form or blank, **context,
        )  # fmt: skip

    @get("/plans")
    async def plan_list(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock,
        saved: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        merchant = await _signed_in(request, db_session, clock)
        if merchant is None:
            return Redirect("/console/login")
        notice = {"created": "Plan created.", "archived": "Plan archived."}.get(saved or "")
        return await self._plans_page(request, db_session, merchant, notice=notice)

    @post("/plans", status_code=303)
    async def plan_create(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, clock: Clock
    ) -> Response[Any]:
        posted = await _form_post(request, db_session, clock)
        if isinstance(posted, Response):
            return posted
        merchant, form = posted
        amount = parse_amount(form.get("amount", ""))
        try:
            count, trial = int(form.get("interval_count", "")), int(form.get("trial_days", ""))
        except ValueError:
            count = trial = -1
        try:
            if amount is None:
                raise ProblemError("amount: a price such as 99.90", status=422)
            if count < 0 or trial < 0:
                raise ProblemError("interval count and trial days: whole numbers", status=422)
            data = PlanCreate(
                name=form.get("name", ""), amount=amount, currency=merchant.currency,
                interval=form.get("interval", ""), interval_count=count, trial_days=trial,
            )  # fmt: skip
            await plans.create_plan(db_session, merchant.id, data, now=clock.now())
        except ProblemError as exc:
            if exc.status != 422:
                raise
            return await self._plans_page(
                request, db_session, merchant, form, status=422,
                error=f"Plan not created: {exc.detail}",
            )  # fmt: skip
        return Redirect("/console/plans?saved=created", status_code=303)

    @post("/plans/{plan_id:str}/archive", status_code=303)
    async def plan_archive(
        self, request: Request[Any, Any, Any], plan_id: str, db_session: AsyncSession,
        clock: Clock,
    ) -> Response[Any]:  # fmt: skip
        merchant = await _signed_in(request, db_session, clock)
        if merchant is None:
            return Redirect("/console/login")
        if not _csrf_ok(request, await _form(request)):
            return _forbidden(request, merchant)
        await plans.update_plan(db_session, merchant.id, plan_id, {"active": False},
                                now=clock.now())  # fmt: skip
        return Redirect("/console/plans?saved=archived", status_code=303)

    def _policy_page(
        self, request: Request[Any, Any, Any], merchant: Merchant, section: str,
        values: dict[str, str], status: int = 200, **context: Any,
    ) -> Response[str]:  # fmt: skip
        title, fields = policy_forms.SECTIONS[section]
        sections = [(k, v[0]) for k, v in policy_forms.SECTIONS.items()]
        return _page(
            request, "policy.html.jinja", merchant, status=status, section=section,
            title=title, fields=fields, values=values, sections=sections, **context,
        )  # fmt: skip

    @get("/settings/{section:str}")
    async def policy(
        self, request: Request[Any, Any, Any], section: str, db_session: AsyncSession,
        clock: Clock, saved: str | None = None,
    ) -> Response[Any]:  # fmt: skip
        merchant = await _signed_in(request, db_session, clock)
        if merchant is None:
            return Redirect("/console/login")
        if section not in policy_forms.SECTIONS:
            raise NotFound(f"No settings page {section}")
        stored = await {
            "dunning": get_dunning, "late_fees": get_late_fees, "negotiation": get_negotiation,
        }[section](db_session, merchant.id)  # fmt: skip
        values = policy_forms.shown(section, stored, merchant.currency)
        notice = "Saved." if saved else None
        return self._policy_page(request, merchant, section, values, notice=notice)

    @post("/settings/{section:str}", status_code=303)
    async def save_policy(
        self, request: Request[Any, Any, Any], section: str, db_session: AsyncSession,
        clock: Clock,
    ) -> Response[Any]:  # fmt: skip
        merchant = await _signed_in(request, db_session, clock)
        if merchant is None:
            return Redirect("/console/login")
        if section not in policy_forms.SECTIONS:
            raise NotFound(f"No settings page {section}")
        form = await _form(request)
        if not _csrf_ok(request, form):
            return _forbidden(request, merchant)
        body, again, errors = policy_forms.parsed(section, form)
        if not errors:
            try:
                if section == "dunning":
                    await put_dunning(db_session, merchant.id, body)
                elif section == "late_fees":
                    await put_late_fees(db_session, merchant, body)
                else:
                    await put_negotiation(db_session, merchant.id, body)
            except ProblemError as exc:
                if exc.status != 422:
                    raise
                errors = exc.errors or [{"field": section, "message": exc.detail}]
        if errors:
            return self._policy_page(request, merchant, section, again, status=422, errors=errors)
        return Redirect(f"/console/settings/{section}?saved=1", status_code=303)
