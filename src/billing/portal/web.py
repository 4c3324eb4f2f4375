"""HTTP plumbing shared by the portal pages: the payer dependency, cookies, CSRF guard,
page rendering with the merchant's brand, and friendly error pages."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

import structlog
from litestar import Controller, Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from billing.config import Settings
from billing.http import get_runtime
from billing.kit.errors import NotFound, ProblemError
from billing.kit.secrets import constant_time_equal
from billing.portal.i18n import Formatter, portal_locale, translator
from billing.portal.sessions import (
    SESSION_TTL,
    MerchantFace,
    Payer,
    PortalAccessError,
    authenticate,
    csrf_token,
)

log = structlog.get_logger("billing.portal")

SESSION_COOKIE = "billing_portal"
LOGIN_CSRF_COOKIE = "billing_portal_login"
COOKIE_PATH = "/portal"
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_COLOR = "#1d4ed8"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "testserver.local"})
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


STRIPE_JS_ORIGIN = "https://js.stripe.com"
STRIPE_API_ORIGIN = "https://api.stripe.com"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def card_page_csp(settings: Settings) -> str:
    """The card page alone may run Stripe.js, let it call Stripe's API and, for real
    Stripe, show its Elements and 3-D Secure frames; every other page keeps 'self'."""
    script = _origin(settings.stripe_js_url)
    api = _origin(settings.stripe_api_base or STRIPE_API_ORIGIN)
    if script == STRIPE_JS_ORIGIN:
        scripts = f"{script} https://*.js.stripe.com"
        frames = f"; frame-src {script} https://*.js.stripe.com https://hooks.stripe.com"
    else:
        scripts, frames = script, ""  # a stand-in such as localstripe's draws no frames
    return (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self' {scripts}; connect-src 'self' {api}{frames}; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def settings_of(state: State) -> Settings:
    return get_runtime(state).settings


def secure_cookies(request: Request[Any, Any, Any], settings: Settings) -> bool:
    """Secure everywhere except plain-http local development (browsers would drop it)."""
    scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
    if scheme == "https" or settings.base_url.startswith("https://"):
        return True
    return (request.url.hostname or "") not in LOCAL_HOSTS


def session_cookie(request: Request[Any, Any, Any], settings: Settings, raw: str) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=raw,
        path=COOKIE_PATH,
        httponly=True,
        secure=secure_cookies(request, settings),
        samesite="lax",
        max_age=int(SESSION_TTL.total_seconds()),
    )


def cleared_cookie(request: Request[Any, Any, Any], settings: Settings) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        path=COOKIE_PATH,
        httponly=True,
        secure=secure_cookies(request, settings),
        samesite="lax",
        max_age=0,
    )


def login_csrf_cookie(request: Request[Any, Any, Any], settings: Settings, value: str) -> Cookie:
    """The double-submit token of the forms shown before there is a session (login, the
    session link's "Continue"): SameSite=Lax keeps other sites' POSTs from carrying it."""
    return Cookie(
        key=LOGIN_CSRF_COOKIE,
        value=value,
        path=COOKIE_PATH,
        httponly=True,
        secure=secure_cookies(request, settings),
        samesite="lax",
    )


async def provide_payer(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], state: State
) -> Payer:
    runtime = get_runtime(state)
    payer = await authenticate(
        db_session, request.cookies.get(SESSION_COOKIE), now=runtime.clock.now()
    )
    request.state.portal_payer = payer  # lets error pages keep the payer's brand and language
    return payer


async def csrf_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Every portal form POST carries a token bound to the session (or, on the forms shown
    before there is one, the login form and the session link's "Continue", to a
    double-submit cookie)."""
    if not isinstance(connection, Request) or connection.method != "POST":
        return
    form = await connection.form()
    given = str(form.get("csrf_token") or "")
    settings = settings_of(connection.app.state)
    session_raw = connection.cookies.get(SESSION_COOKIE)
    login_raw = connection.cookies.get(LOGIN_CSRF_COOKIE)
    path = connection.url.path
    if path.endswith("/login") or path.startswith("/portal/s/"):
        if login_raw and given and constant_time_equal(login_raw, given):
            return
    elif (
        session_raw
        and given
        and constant_time_equal(csrf_token(settings.secret_key, session_raw), given)
    ):
        return
    raise PortalAccessError("csrf", 403)


def brand(merchant: MerchantFace | None) -> dict[str, Any]:
    color = merchant.brand_color if merchant and merchant.brand_color else DEFAULT_COLOR
    if not _HEX_COLOR.fullmatch(color):
        color = DEFAULT_COLOR
    from billing.notifications.context import text_color_on

    logo = merchant.logo_url if merchant and merchant.logo_url else None
    if logo and not logo.startswith("https://"):
        logo = None  # mixed or scripted content never reaches an <img>
    return {
        "name": merchant.name if merchant else "",
        "color": color,
        "text_color": text_color_on(color),
        "logo_url": logo,
    }


def render(
    request: Request[Any, Any, Any],
    name: str,
    *,
    payer: Payer | None = None,
    merchant: MerchantFace | None = None,
    locale: str | None = None,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    background: Any = None,
    csp: str | None = None,
    **context: Any,
) -> Template:
    """A page with the base context: words, formatting, brand, CSRF token and navigation."""
    settings = settings_of(request.app.state)
    merchant = merchant or (payer.merchant if payer else None)
    loc = portal_locale(locale or (payer.locale if payer else request.query_params.get("lang")))
    session_raw = request.cookies.get(SESSION_COOKIE)
    notice = request.query_params.get("notice")
    base = {
        "t": translator(loc),
        "fmt": Formatter(loc, merchant.timezone if merchant else "America/Sao_Paulo"),
        "locale": loc,
        "other_locale": "en" if loc == "pt-BR" else "pt-BR",
        "brand": brand(merchant),
        "payer": payer,
        "csrf": csrf_token(settings.secret_key, session_raw) if payer and session_raw else "",
        "path": request.url.path,
        # Only known catalog keys are shown: a crafted URL cannot put text on the page.
        "notice": notice if notice in NOTICES else None,
    }
    return Template(
        template_name=name,
        context={**base, **context},
        status_code=status,
        headers={**SECURITY_HEADERS, "Content-Security-Policy": csp} if csp else SECURITY_HEADERS,
        cookies=cookies,
        background=background,
    )


NOTICES = frozenset(
    {
        "methods.added",
        "methods.removed",
        "methods.default_set",
        "plan.changed",
        "cancel.done",
        "logout.done",
    }
)


def redirect(path: str, cookies: list[Cookie] | None = None) -> Redirect:
    # 303: after a POST the browser GETs the next page (post/redirect/get).
    return Redirect(path=path, status_code=303, headers=SECURITY_HEADERS, cookies=cookies)


def local_path(value: str | None, default: str) -> str:
    """Only our own portal paths are followed after a form (no open redirect)."""
    if value and value.startswith("/portal/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


_MESSAGES = {
    "link_expired": "error.link_expired",
    "link_used": "error.link_used",
    "link_invalid": "error.link_invalid",
    "session": "error.session",
    "csrf": "error.csrf",
}


def error_page(
    request: Request[Any, Any, Any], status: int, message_key: str, **values: Any
) -> Response[Any]:
    payer: Payer | None = getattr(request.state, "portal_payer", None)
    response = render(
        request,
        "error.html.jinja",
        payer=payer,
        status=status,
        message_key=message_key,
        message_values=values,
    )
    return response


def on_access_error(request: Request[Any, Any, Any], exc: PortalAccessError) -> Response[Any]:
    return error_page(request, exc.status, _MESSAGES.get(exc.reason, "error.session"))


def on_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Any]:
    if isinstance(exc, NotFound) or exc.status == 404:
        return error_page(request, 404, "error.not_found")
    return error_page(request, exc.status, "error.invalid", detail=exc.detail)


def on_not_found(request: Request[Any, Any, Any], _: NotFoundException) -> Response[Any]:
    return error_page(request, 404, "error.not_found")


PORTAL_EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    PortalAccessError: on_access_error,
    ProblemError: on_problem,
    NotFoundException: on_not_found,
}


Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
AnyRequest = Request[Any, Any, Any]


class PortalController(Controller):
    """What every payer-facing portal controller shares: the payer from the session
    cookie, CSRF on every unsafe method, and errors as friendly pages."""

    path = "/portal"
    include_in_schema = False
    guards = [csrf_guard]
    exception_handlers = PORTAL_EXCEPTION_HANDLERS
    dependencies = {"payer": Provide(provide_payer)}
