"""Collection messages: templates per situation and tone, and the channels that send them."""

from billing.notifications.context import MessageContext, format_cnpj
from billing.notifications.render import (
    CHANNELS,
    LOCALES,
    SMS_MAX_CHARS,
    TEMPLATES,
    TONES,
    MessageTooLong,
    RenderedMessage,
    render,
    resolve_locale,
)

__all__ = [
    "CHANNELS",
    "LOCALES",
    "SMS_MAX_CHARS",
    "TEMPLATES",
    "TONES",
    "MessageContext",
    "MessageTooLong",
    "RenderedMessage",
    "format_cnpj",
    "render",
    "resolve_locale",
]
