"""Money: minor units, ISO exponents, single half-even rounding, allocation, display."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from billing.kit.money import (
    CURRENCIES,
    CurrencyMismatch,
    Money,
    allocate,
    exponent,
    format_money,
    from_decimal,
    normalize_currency,
    percent_of,
    round_minor,
    to_decimal,
)

NBSP = "\u00a0"
amounts = st.integers(min_value=-(10**15), max_value=10**15)
currencies = st.sampled_from(sorted(CURRENCIES))


# --- currencies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exp"),
    [
        *[("BRL", 2), ("USD", 2), ("EUR", 2), ("MXN", 2)],
        *[("JPY", 0), ("CLP", 0), ("KRW", 0), ("PYG", 0)],
        *[("BHD", 3), ("KWD", 3), ("JOD", 3), ("OMR", 3), ("TND", 3)],
        ("CLF", 4),
    ],
)
def test_exponent(code: str, exp: int) -> None:
    assert exponent(code) == exp


@pytest.mark.parametrize(
    "code",
    # Every Latin American currency must be known.
    [
        *["ARS", "BOB", "BRL", "BZD", "CLP", "COP", "CRC", "CUP", "DOP", "GTQ", "GYD"],
        *["HNL", "HTG", "MXN", "NIO", "PAB", "PEN", "PYG", "SRD", "SVC", "UYU", "VES"],
    ],
)
def test_latin_america_known(code: str) -> None:
    assert normalize_currency(code.lower()) == code


@pytest.mark.parametrize("bad", ["", "BR", "BRLL", "XYZ", "12A", "R$ ", "XAU", "XXX"])
def test_normalize_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="currency"):
        normalize_currency(bad)


def test_exponent_unknown_raises() -> None:
    with pytest.raises(ValueError, match="unknown ISO 4217"):
        exponent("ABC")


# --- Money ------------------------------------------------------------------


def test_money_arithmetic_and_normalizes_code() -> None:
    a = Money(1050, "brl")
    assert a.currency == "BRL"
    assert a + Money(25, "BRL") == Money(1075, "BRL")
    assert a - Money(2000, "BRL") == Money(-950, "BRL")
    assert -a == Money(-1050, "BRL")
    assert Money.zero("JPY") == Money(0, "JPY")
    assert Money.zero("JPY").is_zero
    assert not a.is_zero
    assert Money(1, "BRL") < Money(2, "BRL") <= Money(2, "BRL")
    assert Money(3, "BRL") > Money(2, "BRL") >= Money(2, "BRL")


@pytest.mark.parametrize("amount", [1.5, 1.0, Decimal("1"), "100", True, False, None])
def test_money_rejects_non_int(amount: object) -> None:
    with pytest.raises(TypeError, match="int of minor units"):
        Money(amount, "BRL")  # type: ignore[arg-type]


def test_money_rejects_unknown_currency() -> None:
    with pytest.raises(ValueError, match="unknown ISO 4217"):
        Money(1, "ZZZ")


def test_currency_mismatch() -> None:
    brl, usd = Money(100, "BRL"), Money(100, "USD")
    for op in (
        lambda: brl + usd,
        lambda: brl - usd,
        lambda: brl < usd,
        lambda: brl <= usd,
        lambda: brl > usd,
        lambda: brl >= usd,
    ):
        with pytest.raises(CurrencyMismatch, match="BRL vs USD"):
            op()
    assert issubclass(CurrencyMismatch, ValueError)
    # Equality is a plain value comparison: different currencies are simply unequal.
    assert brl != usd


def test_money_is_frozen() -> None:
    m = Money(1, "BRL")
    with pytest.raises(AttributeError):
        m.amount = 2  # type: ignore[misc]


@given(amounts, amounts, amounts, currencies)
def test_add_associative(a: int, b: int, c: int, cur: str) -> None:
    x, y, z = Money(a, cur), Money(b, cur), Money(c, cur)
    assert (x + y) + z == x + (y + z)
    assert x + y == y + x


@given(amounts, amounts, currencies)
def test_sub_is_add_inverse(a: int, b: int, cur: str) -> None:
    x, y = Money(a, cur), Money(b, cur)
    assert (x + y) - y == x
    assert x - x == Money.zero(cur)
    assert x + (-x) == Money.zero(cur)
    negated = -x
    assert -negated == x


# --- rounding and percentages ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.5", 0),  # half to even: 0
        ("1.5", 2),
        ("2.5", 2),
        ("-2.5", -2),
        ("16.6666", 17),
        ("2.5000001", 3),
        ("-0.4", 0),
    ],
)
def test_round_minor_half_even(value: str, expected: int) -> None:
    assert round_minor(Decimal(value)) == expected


def test_round_minor_rejects_float_and_nan() -> None:
    with pytest.raises(TypeError):
        round_minor(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        round_minor(Decimal("NaN"))


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (10000, Decimal("2"), 200),
        (12345, Decimal("2"), 247),  # 246.9 -> 247
        (125, Decimal("2"), 2),  # 2.5 -> 2 (half-even)
        (175, Decimal("2"), 4),  # 3.5 -> 4 (half-even)
        (9990, Decimal("12.5"), 1249),  # 1248.75 -> 1249
        (10000, Decimal("0"), 0),
    ],
)
def test_percent_of(amount: int, percent: Decimal, expected: int) -> None:
    assert percent_of(amount, percent) == expected


def test_percent_of_rejects_float() -> None:
    with pytest.raises(TypeError):
        percent_of(100, 2.0)  # type: ignore[arg-type]


percents = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False)


@given(st.integers(0, 10**12), st.integers(0, 10**12), percents)
def test_percent_of_monotone_in_amount(a: int, b: int, p: Decimal) -> None:
    lo, hi = sorted((a, b))
    assert 0 <= percent_of(lo, p) <= percent_of(hi, p)


@given(st.integers(0, 10**12), percents, percents)
def test_percent_of_monotone_in_percent(a: int, p: Decimal, q: Decimal) -> None:
    lo, hi = sorted((p, q))
    assert 0 <= percent_of(a, lo) <= percent_of(a, hi)


# --- allocate --------------------------------------------------------------


def test_allocate_examples() -> None:
    assert allocate(10000, 3) == [3334, 3333, 3333]
    assert allocate(10001, 3) == [3334, 3334, 3333]
    assert allocate(2, 4) == [1, 1, 0, 0]
    assert allocate(-10000, 3) == [-3334, -3333, -3333]
    assert allocate(100, [1, 1]) == [50, 50]
    # 100 * 1/3 = 33.3 -> 33, 100 * 2/3 = 66.6 -> 66: the leftover unit goes to the part
    # the floor cut most (0.6 > 0.3), so each share is its exact one rounded down or up
    assert allocate(100, [1, 2]) == [33, 67]
    assert allocate(100, [1, 0, 2]) == [33, 0, 67]
    # 6 * 2/4 = 3 exactly: it stays 3; the two 1.5s share the leftover, the first first
    assert allocate(6, [2, 1, 1]) == [3, 2, 1]


@pytest.mark.parametrize("parts", [0, -1, [], [0, 0], [1, -1], True])
def test_allocate_rejects(parts: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        allocate(100, parts)  # type: ignore[arg-type]


@given(amounts, st.integers(1, 60))
def test_allocate_equal_split(total: int, n: int) -> None:
    shares = allocate(total, n)
    assert len(shares) == n
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1
    # Remainders go to the first parts: the list never increases.
    assert shares == sorted(shares, key=abs, reverse=True)


@given(amounts, st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
@example(total=6, weights=[2, 1, 1])  # 3, 1.5, 1.5: the exact 3 stays 3 (3, 2, 1)
@example(total=-6, weights=[2, 1, 1])  # a refund splits the same way
def test_allocate_weighted(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        weights = [*weights, 1]
    shares = allocate(total, weights)
    assert sum(shares) == total
    for share, w in zip(shares, weights, strict=True):
        exact = Decimal(abs(total)) * w / sum(weights)
        assert abs(abs(share) - exact) < 1  # within one minor unit of the exact share
        if w == 0:
            assert share == 0


# --- decimals and display ---------------------------------------------------


def test_to_from_decimal() -> None:
    assert to_decimal(123456, "BRL") == Decimal("1234.56")
    assert to_decimal(1234, "JPY") == Decimal("1234")
    assert to_decimal(1234567, "BHD") == Decimal("1234.567")
    assert from_decimal("1234.56", "BRL") == 123456
    assert from_decimal(Decimal("0.005"), "BRL") == 0  # 0.5 cent -> even (0)
    assert from_decimal(Decimal("0.015"), "BRL") == 2  # 1.5 cents -> even (2)
    assert from_decimal("1234.5", "JPY") == 1234
    assert from_decimal("1.2345", "BHD") == 1234  # 1234.5 fils -> 1234
    with pytest.raises(ValueError, match="not a decimal"):
        from_decimal("1,00", "BRL")
    with pytest.raises(TypeError):
        from_decimal(1.0, "BRL")  # type: ignore[arg-type]


@given(amounts, currencies)
def test_decimal_round_trip(amount: int, cur: str) -> None:
    assert from_decimal(to_decimal(amount, cur), cur) == amount
    assert from_decimal(str(to_decimal(amount, cur)), cur) == amount


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (123456, "BRL", "pt-BR", f"R${NBSP}1.234,56"),
        (123456, "BRL", "pt_BR", f"R${NBSP}1.234,56"),
        (-123456, "BRL", "pt-BR", f"-R${NBSP}1.234,56"),
        (5, "BRL", "pt-BR", f"R${NBSP}0,05"),
        (100000000, "BRL", "pt-BR", f"R${NBSP}1.000.000,00"),
        (123456, "BRL", "en", "R$1,234.56"),
        (123456, "USD", "en", "$1,234.56"),
        (1234, "JPY", "en", "¥1,234"),
        (1234567, "BHD", "en", "BHD1,234.567"),
        # ISO says IQD has 3 decimals even though CLDR displays 0: never hide fils.
        (123456, "IQD", "en", "IQD123.456"),
    ],
)
def test_format_money(amount: int, currency: str, locale: str, expected: str) -> None:
    assert format_money(amount, currency, locale) == expected


def test_format_money_default_locale_and_method() -> None:
    assert format_money(1999, "brl") == f"R${NBSP}19,99"
    assert Money(1999, "BRL").format("en") == "R$19.99"


@given(st.integers(-(10**12), 10**12))
def test_format_pt_br_parses_back(amount: int) -> None:
    text = format_money(amount, "BRL")
    number = text.replace(f"R${NBSP}", "").replace(".", "").replace(",", ".")
    assert from_decimal(number, "BRL") == amount
