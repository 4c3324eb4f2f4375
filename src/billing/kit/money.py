"""Money as integer minor units plus an ISO 4217 currency.

Floats never appear here. Percent math runs on ``Decimal`` and is rounded exactly
once, in :func:`round_minor`, half-even (banker's rounding), so line items sum to
the total and no systematic bias accumulates over many invoices.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from babel import Locale
from babel.numbers import parse_pattern

__all__ = [
    "CURRENCIES",
    "CurrencyMismatch",
    "Money",
    "allocate",
    "exponent",
    "format_money",
    "from_decimal",
    "normalize_currency",
    "percent_of",
    "round_minor",
    "to_decimal",
]


# ISO 4217 minor-unit exponents that are not 2 (ISO's list, not CLDR's: CLDR
# treats e.g. IQD or RSD as 0-decimal for display, but ISO amounts are what
# gateways and ledgers exchange).
def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


_EXPONENT_0 = _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF")
_EXPONENT_3 = _codes("BHD IQD JOD KWD LYD OMR TND")
_EXPONENT_4 = _codes("CLF UYW")

# Active ISO 4217 codes with a defined minor unit (precious metals, SDR and the
# test/no-currency codes XTS/XXX are left out: they are not billable).
_EXPONENT_2 = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR
    ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD
    MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN
    PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES
    WST XCD XCG YER ZAR ZMW ZWG
    """
)

CURRENCIES: dict[str, int] = {
    **dict.fromkeys(_EXPONENT_2, 2),
    **dict.fromkeys(_EXPONENT_0, 0),
    **dict.fromkeys(_EXPONENT_3, 3),
    **dict.fromkeys(_EXPONENT_4, 4),
}


class CurrencyMismatch(ValueError):
    """Arithmetic or comparison between amounts of different currencies."""


def normalize_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code, or raise ``ValueError``."""
    if not isinstance(code, str):
        raise ValueError(f"currency must be a string, got {type(code).__name__}")
    upper = code.strip().upper()
    if len(upper) != 3 or not upper.isascii() or not upper.isalpha():
        raise ValueError(f"currency must be a 3-letter ISO 4217 code, got {code!r}")
    if upper not in CURRENCIES:
        raise ValueError(f"unknown ISO 4217 currency code {code!r}")
    return upper


def exponent(currency: str) -> int:
    """Number of minor-unit digits (BRL 2, JPY 0, BHD 3)."""
    return CURRENCIES[normalize_currency(currency)]


def round_minor(value: Decimal) -> int:
    """THE rounding place: a Decimal count of minor units to an int, half-even."""
    if not isinstance(value, Decimal):
        raise TypeError(f"round_minor takes a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"cannot round a non-finite value {value}")
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def percent_of(amount: int, percent: Decimal) -> int:
    """``percent`` % of ``amount`` minor units, e.g. 2 % of 10000 = 200."""
    _check_int(amount, "amount")
    if not isinstance(percent, Decimal | int) or isinstance(percent, bool):
        raise TypeError(f"percent must be a Decimal, got {type(percent).__name__}")
    return round_minor(Decimal(amount) * Decimal(percent) / Decimal(100))


def allocate(total: int, parts: int | Sequence[int]) -> list[int]:
    """Split ``total`` into parts summing exactly to it.

    ``parts`` is either a count (equal split) or a sequence of non-negative integer
    weights (proportional split). Leftover minor units go one each to the parts that
    the rounding down cut most, the first of equals first, so an installment plan of
    100.00 in 3 is 33.34, 33.33, 33.33.
    """
    _check_int(total, "total")
    if isinstance(parts, bool):
        raise TypeError("parts must be a count or a sequence of weights, not a bool")
    if isinstance(parts, int):
        if parts <= 0:
            raise ValueError(f"parts must be positive, got {parts}")
        weights: list[int] = [1] * parts
    else:
        weights = list(parts)
        if not weights:
            raise ValueError("weights must not be empty")
        for w in weights:
            _check_int(w, "weight")
            if w < 0:
                raise ValueError(f"weights must be non-negative, got {w}")
        if sum(weights) == 0:
            raise ValueError("weights must not all be zero")
    # Work on the magnitude so a negative total (a refund) splits symmetrically.
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    weight_sum = sum(weights)
    shares = [magnitude * w // weight_sum for w in weights]
    remainder = magnitude - sum(shares)
    # Largest remainder: the leftover units (fewer than the parts) go one each to the
    # parts whose exact share lost the most to the floor, the first of equals first. A
    # part whose share was exact (a zero weight included) loses nothing and gets none,
    # so every share is its exact share rounded down or up.
    lost = sorted(range(len(weights)), key=lambda i: (-(magnitude * weights[i] % weight_sum), i))
    for i in lost[:remainder]:
        shares[i] += 1
    return [sign * s for s in shares]


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units to a major-unit Decimal: 123456 BRL -> Decimal('1234.56')."""
    _check_int(amount, "amount")
    return Decimal(amount).scaleb(-exponent(currency))


def from_decimal(value: Decimal | str, currency: str) -> int:
    """Major-unit Decimal (or string) to minor units, rounded once (half-even)."""
    if isinstance(value, float):
        raise TypeError("floats are not accepted for money; pass a Decimal or a string")
    try:
        dec = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    return round_minor(dec.scaleb(exponent(currency)))


def _babel_locale(locale: str) -> Locale:
    # Accept BCP 47 ("pt-BR") and POSIX ("pt_BR") spellings.
    return Locale.parse(locale.replace("-", "_"))


def format_money(amount: int, currency: str, locale: str = "pt-BR") -> str:
    """Human display of an amount, e.g. 123456 BRL -> ``"R$\\xa01.234,56"`` in pt-BR.

    The output is babel's (CLDR's) verbatim: pt-BR separates the symbol with a
    NO-BREAK SPACE (U+00A0), not a plain space, so a line break never splits it;
    "en" gives ``"R$1,234.56"``. The number of decimals is ISO 4217's exponent,
    not CLDR's display digits, so the string never hides stored minor units.
    """
    code = normalize_currency(currency)
    loc = _babel_locale(locale)
    pattern = copy.copy(parse_pattern(loc.currency_formats["standard"]))
    digits = CURRENCIES[code]
    pattern.frac_prec = (digits, digits)
    return pattern.apply(to_decimal(amount, code), loc, currency=code, currency_digits=False)


def _check_int(value: object, name: str) -> None:
    # bool is an int subclass; True as an amount is always a bug.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int of minor units, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units with its currency; arithmetic only within one currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        _check_int(self.amount, "amount")
        # frozen: bypass __setattr__ to store the normalized code.
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return self.amount >= other.amount

    def format(self, locale: str = "pt-BR") -> str:
        return format_money(self.amount, self.currency, locale)

    def __str__(self) -> str:
        return f"{to_decimal(self.amount, self.currency)} {self.currency}"
