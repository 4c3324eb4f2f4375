"""What a collection message needs to say, and its formatting helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = ["MessageContext", "format_cnpj", "text_color_on"]

# CNPJ is 12 base characters + 2 check digits; from July 2026 the base may be
# alphanumeric (IN RFB 2.229/2024), so letters are accepted there.
_CNPJ = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_BRAND_COLOR = "#1d4ed8"


def format_cnpj(document: str) -> str:
    """``12345678000190`` (or already punctuated) -> ``12.345.678/0001-90``."""
    raw = re.sub(r"[.\-/\s]", "", document).upper()
    if not _CNPJ.fullmatch(raw):
        raise ValueError(f"not a CNPJ: {document!r}")
    return f"{raw[:2]}.{raw[2:5]}.{raw[5:8]}/{raw[8:12]}-{raw[12:]}"


def text_color_on(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (WCAG luminance)."""

    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(background[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # Contrast against white is (1.05)/(L+0.05); against black (L+0.05)/0.05.
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 else "#111111"


@dataclass(frozen=True, kw_only=True)
class MessageContext:
    """Everything printed on one collection message (CDC art. 42-A identity included).

    Amounts are integer minor units of ``currency``. ``late_fee`` and ``interest`` are
    as of the message's date; ``amount_due`` defaults to their sum with ``amount``.
    """

    merchant_name: str
    merchant_legal_name: str
    merchant_document: str  # CNPJ, digits or punctuated
    support_email: str
    support_phone: str
    payer_name: str
    amount: int
    currency: str
    due_at: date
    installment: str  # e.g. "Parcela 3 de 12 — Plano Pro"
    portal_url: str
    payer_email: str | None = None
    payer_phone: str | None = None
    late_fee: int = 0
    interest: int = 0
    amount_due: int | None = None
    days_overdue: int = 0
    decline_reason: str | None = None  # plain language, e.g. "saldo insuficiente"
    paid_at: date | None = None  # payment_received only
    offer_max_installments: int | None = None  # renegotiation_offer only
    brand_color: str = DEFAULT_BRAND_COLOR

    def __post_init__(self) -> None:
        format_cnpj(self.merchant_document)  # fail at construction, not mid-send
        for name in ("amount", "late_fee", "interest", "days_overdue"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if self.amount_due is not None and self.amount_due < 0:
            raise ValueError("amount_due must be non-negative")
        if not self.portal_url.startswith(("https://", "http://")):
            raise ValueError("portal_url must be an http(s) URL")

    @property
    def first_name(self) -> str:
        parts = self.payer_name.split()
        return parts[0] if parts else ""

    @property
    def total_due(self) -> int:
        if self.amount_due is not None:
            return self.amount_due
        return self.amount + self.late_fee + self.interest

    @property
    def has_charges(self) -> bool:
        return self.late_fee > 0 or self.interest > 0

    @property
    def cnpj(self) -> str:
        return format_cnpj(self.merchant_document)

    @property
    def safe_brand_color(self) -> str:
        # Only a plain hex colour reaches the HTML style attribute.
        return self.brand_color if _HEX_COLOR.fullmatch(self.brand_color) else DEFAULT_BRAND_COLOR
