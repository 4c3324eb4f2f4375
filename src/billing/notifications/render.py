"""Render a collection message for one template, tone, locale and channel."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from babel.dates import format_date
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from billing.kit.money import format_money
from billing.notifications.context import MessageContext, text_color_on

__all__ = [
    "CHANNELS",
    "LOCALES",
    "SMS_MAX_CHARS",
    "TEMPLATES",
    "TONES",
    "Channel",
    "MessageTooLong",
    "RenderedMessage",
    "render",
    "resolve_locale",
]

TEMPLATES: tuple[str, ...] = (
    "reminder",
    "due_today",
    "payment_failed",
    "overdue",
    "final_notice",
    "renegotiation_offer",
    "payment_received",
    "portal_login_link",
)
TONES: tuple[str, ...] = ("friendly", "firm", "final")
LOCALES: tuple[str, ...] = ("pt-BR", "en")
DEFAULT_LOCALE = "pt-BR"
Channel = Literal["email", "sms", "whatsapp", "webhook"]
CHANNELS: tuple[str, ...] = get_args(Channel)
# Two concatenated SMS segments with accents (UCS-2) hold ~134 chars; providers
# split longer texts, and 300 keeps a message to a predictable cost.
SMS_MAX_CHARS = 300

_DATE_FORMATS = {"pt-BR": ("long", "dd/MM/yyyy"), "en": ("long", "MMM d, yyyy")}


class MessageTooLong(ValueError):
    """An SMS that cannot fit even in its compact form (e.g. a very long portal URL)."""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str | None
    text: str
    html: str | None
    data: dict[str, Any] = field(default_factory=dict)


def _paragraphs(value: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"\n\s*\n", str(value)) if p.strip()]
    # Keep already-escaped HTML as Markup so autoescape does not escape it twice.
    return [Markup(p) for p in parts] if isinstance(value, Markup) else parts


def _env(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("billing.notifications", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["paragraphs"] = _paragraphs
    return env


_TEXT_ENV = _env(autoescape=False)
_HTML_ENV = _env(autoescape=True)


def resolve_locale(locale: str | None) -> str:
    """Exact match, then same language ("en-GB" -> "en"); anything else is pt-BR."""
    if not locale:
        return DEFAULT_LOCALE
    wanted = locale.replace("_", "-").lower()
    for known in LOCALES:
        if known.lower() == wanted:
            return known
    language = wanted.split("-")[0]
    for known in LOCALES:
        if known.lower().split("-")[0] == language:
            return known
    return DEFAULT_LOCALE


def _details(template: str, ctx: MessageContext, v: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("installment", ctx.installment), ("due_date", v["due_date"])]
    if template == "payment_received":
        rows.append(("amount_paid", v["total"]))
        if v["paid_date"]:
            rows.append(("paid_at", v["paid_date"]))
        return rows
    rows.append(("amount", v["amount"]))
    if ctx.late_fee:
        rows.append(("late_fee", v["late_fee"]))
    if ctx.interest:
        rows.append(("interest", v["interest"]))
    if ctx.has_charges or ctx.total_due != ctx.amount:
        rows.append(("total", v["total"]))
    return rows


def _variables(template: str, tone: str, locale: str, ctx: MessageContext) -> dict[str, Any]:
    long_fmt, short_fmt = _DATE_FORMATS[locale]
    babel_locale = locale.replace("-", "_")

    def money(amount: int) -> str:
        return format_money(amount, ctx.currency, locale)

    v: dict[str, Any] = {
        "template": template,
        "tone": tone,
        "locale": locale,
        "compact": False,
        "minimal": False,
        "merchant_name": ctx.merchant_name,
        "legal_name": ctx.merchant_legal_name,
        "cnpj": ctx.cnpj,
        "support_email": ctx.support_email,
        "support_phone": ctx.support_phone,
        "first_name": ctx.first_name,
        "amount": money(ctx.amount),
        "late_fee": money(ctx.late_fee),
        "interest": money(ctx.interest),
        "total": money(ctx.total_due),
        "has_charges": ctx.has_charges,
        "days_overdue": ctx.days_overdue,
        "due_date": format_date(ctx.due_at, long_fmt, locale=babel_locale),
        "due_date_short": format_date(ctx.due_at, short_fmt, locale=babel_locale),
        "paid_date": (
            format_date(ctx.paid_at, long_fmt, locale=babel_locale) if ctx.paid_at else None
        ),
        "installment": ctx.installment,
        "portal_url": ctx.portal_url,
        "decline_reason": ctx.decline_reason,
        "offer_max_installments": ctx.offer_max_installments,
        "brand_color": ctx.safe_brand_color,
        "brand_text_color": text_color_on(ctx.safe_brand_color),
    }
    v["details"] = _details(template, ctx, v)
    return v


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _one_line(text: str) -> str:
    # ASCII whitespace only: the NO-BREAK SPACE inside "R$\xa0129,90" must survive.
    return re.sub(r"[ \t\r\n]+", " ", text).strip(" ")


def _data(template: str, tone: str, locale: str, ctx: MessageContext) -> dict[str, Any]:
    """Structured, JSON-able facts: what a merchant's own system needs to act on."""
    return {
        "template": template,
        "tone": tone,
        "locale": locale,
        "merchant": {
            "name": ctx.merchant_name,
            "legal_name": ctx.merchant_legal_name,
            "document": ctx.cnpj,
            "support_email": ctx.support_email,
            "support_phone": ctx.support_phone,
        },
        "payer": {
            "name": ctx.payer_name,
            "first_name": ctx.first_name,
            "email": ctx.payer_email,
            "phone": ctx.payer_phone,
        },
        "installment": {
            "description": ctx.installment,
            "due_at": ctx.due_at.isoformat(),
            "days_overdue": ctx.days_overdue,
            "paid_at": ctx.paid_at.isoformat() if ctx.paid_at else None,
        },
        "currency": ctx.currency,
        "amount": ctx.amount,
        "late_fee": ctx.late_fee,
        "interest": ctx.interest,
        "amount_due": ctx.total_due,
        "amount_due_formatted": format_money(ctx.total_due, ctx.currency, locale),
        "portal_url": ctx.portal_url,
        "decline_reason": ctx.decline_reason,
        "offer_max_installments": ctx.offer_max_installments,
    }


def _sms(v: dict[str, Any]) -> str:
    """Full wording, else compact (no legal name, e-mail or description), else minimal."""
    sms = _TEXT_ENV.get_template("layouts/sms.jinja")
    text = ""
    for compact, minimal in ((False, False), (True, False), (True, True)):
        text = _one_line(sms.render({**v, "compact": compact, "minimal": minimal}))
        if len(text) <= SMS_MAX_CHARS:
            return text
    raise MessageTooLong(
        f"SMS is {len(text)} chars even in its minimal form (max {SMS_MAX_CHARS}); "
        "use a shorter portal link or another channel"
    )


def render(
    template: str,
    *,
    tone: str,
    locale: str,
    channel: Channel,
    context: MessageContext,
) -> RenderedMessage:
    """Render ``template`` for ``channel``; an unknown locale falls back to pt-BR."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; expected one of {TEMPLATES}")
    if tone not in TONES:
        raise ValueError(f"unknown tone {tone!r}; expected one of {TONES}")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
    loc = resolve_locale(locale)
    v = _variables(template, tone, loc, context)
    data = _data(template, tone, loc, context)
    subject = _one_line(_TEXT_ENV.get_template("layouts/subject.jinja").render(v))

    if channel == "sms":
        text = _sms(v)
        return RenderedMessage(subject=None, text=text, html=None, data=data)
    if channel == "whatsapp":
        text = _tidy(_TEXT_ENV.get_template("layouts/whatsapp.jinja").render(v))
        return RenderedMessage(subject=None, text=text, html=None, data=data)

    text = _tidy(_TEXT_ENV.get_template("layouts/email.txt.jinja").render(v))
    if channel == "webhook":
        # The merchant may relay the message itself, so the wording travels too.
        return RenderedMessage(subject=subject, text=text, html=None, data=data)
    html = _HTML_ENV.get_template("layouts/email.html.jinja").render({**v, "subject": subject})
    return RenderedMessage(subject=subject, text=text, html=html, data=data)
