"""CPF / CNPJ check digits, including the alphanumeric CNPJ (July 2026)."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billing.customers.documents import validate_cnpj, validate_cpf, validate_document

# --- an independent, deliberately plain oracle --------------------------------


def oracle_dv(values: list[int], first_weight: int) -> int:
    """Modulo-11 digit; weights count down from first_weight, CNPJ wraps 2 -> 9."""
    total = 0
    weight = first_weight
    for v in values:
        total += v * weight
        weight -= 1
        if weight < 2:
            weight = 9
    rest = total % 11
    if rest < 2:
        return 0
    return 11 - rest


def oracle_cpf(body: str) -> str:
    values = [int(c) for c in body]
    d1 = oracle_dv(values, 10)
    d2 = oracle_dv([*values, d1], 11)
    return body + str(d1) + str(d2)


def oracle_cnpj(body: str) -> str:
    values = [ord(c) - ord("0") for c in body]
    d1 = oracle_dv(values, 5)
    d2 = oracle_dv([*values, d1], 6)
    return body + str(d1) + str(d2)


# --- known examples ------------------------------------------------------------


def test_cpf_known_valid_hand_computed() -> None:
    # 529.982.247-25, body 5 2 9 9 8 2 2 4 7
    # DV1: 5*10+2*9+9*8+9*7+8*6+2*5+2*4+4*3+7*2 = 295; 295 % 11 = 9; 11-9 = 2
    # DV2: 5*11+2*10+9*9+9*8+8*7+2*6+2*5+4*4+7*3+2*2 = 347; 347 % 11 = 6; 11-6 = 5
    assert validate_cpf("529.982.247-25") == "52998224725"
    assert validate_cpf("52998224725") == "52998224725"
    assert validate_cpf(" 529 982 247 25 ") == "52998224725"
    assert oracle_cpf("529982247") == "52998224725"


@pytest.mark.parametrize("cpf", ["123.456.789-09", "000.000.001-91", "390.533.447-05"])
def test_cpf_other_valid(cpf: str) -> None:
    assert validate_cpf(cpf) == cpf.replace(".", "").replace("-", "")


def test_cnpj_numeric_hand_computed() -> None:
    # 11.222.333/0001-81, body 1 1 2 2 2 3 3 3 0 0 0 1
    # DV1 weights 5 4 3 2 9 8 7 6 5 4 3 2:
    #   5+4+6+4+18+24+21+18+0+0+0+2 = 102; 102 % 11 = 3; 11-3 = 8
    # DV2 weights 6 5 4 3 2 9 8 7 6 5 4 3 2 over body+8:
    #   6+5+8+6+4+27+24+21+0+0+0+3+16 = 120; 120 % 11 = 10; 11-10 = 1
    assert validate_cnpj("11.222.333/0001-81") == "11222333000181"
    assert validate_cnpj("11222333000181") == "11222333000181"


def test_cnpj_alphanumeric_hand_computed() -> None:
    # Receita Federal's published example 12.ABC.345/01DE-35; value = ord(c) - 48,
    # so A=17 B=18 C=19 D=20 E=21. Body 1 2 17 18 19 3 4 5 0 1 20 21
    # DV1 (5 4 3 2 9 8 7 6 5 4 3 2):
    #   5+8+51+36+171+24+28+30+0+4+60+42 = 459; 459 % 11 = 8; 11-8 = 3
    # DV2 (6 5 4 3 2 9 8 7 6 5 4 3 2) over body+3:
    #   6+10+68+54+38+27+32+35+0+5+80+63+6 = 424; 424 % 11 = 6; 11-6 = 5
    assert validate_cnpj("12.ABC.345/01DE-35") == "12ABC34501DE35"
    assert validate_cnpj("12abc34501de35") == "12ABC34501DE35"  # upper-cased


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("529.982.247-26", "check digits"),
        ("529.982.247-52", "check digits"),
        ("111.111.111-11", "all digits equal"),  # checksum-valid but never issued
        ("000.000.000-00", "all digits equal"),
        ("5299822472", "11 digits"),
        ("529982247255", "11 digits"),
        ("52998224A25", "11 digits"),
        ("", "11 digits"),
        ("529_982_247_25", "11 digits"),
    ],
)
def test_cpf_invalid(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_cpf(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("11.222.333/0001-82", "check digits"),
        ("12.ABC.345/01DE-36", "check digits"),
        ("12.ABC.345/01DE-3A", "2 check digits"),  # check digits are always numeric
        ("00.000.000/0000-00", "all characters equal"),
        ("11.111.111/1111-11", "all characters equal"),
        ("11.222.333/0001-8", "12 digits or letters"),
        ("12.AB?.345/01DE-35", "12 digits or letters"),
    ],
)
def test_cnpj_invalid(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_cnpj(value)


def test_non_string_rejected() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        validate_cpf(52998224725)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a string"):
        validate_document(None)  # type: ignore[arg-type]


def test_validate_document_picks_by_length() -> None:
    assert validate_document("529.982.247-25") == ("cpf", "52998224725")
    assert validate_document("11.222.333/0001-81") == ("cnpj", "11222333000181")
    assert validate_document("12.ABC.345/01DE-35") == ("cnpj", "12ABC34501DE35")
    with pytest.raises(ValueError, match="CPF check digits"):
        validate_document("529.982.247-24")
    with pytest.raises(ValueError, match=r"CPF \(11 digits\) or a CNPJ"):
        validate_document("1234567890123")


# --- properties ------------------------------------------------------------------

digit_strings = st.text(alphabet=string.digits, min_size=9, max_size=9)
cnpj_bodies = st.text(alphabet=string.digits + string.ascii_uppercase, min_size=12, max_size=12)


def _flip(text: str, index: int, alphabet: str, shift: int) -> str:
    pos = alphabet.index(text[index])
    return text[:index] + alphabet[(pos + shift) % len(alphabet)] + text[index + 1 :]


@given(digit_strings)
def test_cpf_generated_accepted(body: str) -> None:
    assume(len(set(body)) > 1)
    cpf = oracle_cpf(body)
    assert validate_cpf(cpf) == cpf
    assert validate_document(f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}") == ("cpf", cpf)


@given(digit_strings, st.integers(0, 10), st.integers(1, 9))
def test_cpf_flipped_digit_rejected(body: str, index: int, shift: int) -> None:
    cpf = oracle_cpf(body)
    flipped = _flip(cpf, index, string.digits, shift)
    # Modulo 11 maps remainders 0 and 1 to the same digit, so a rare body change
    # still checks out; the oracle decides those, everything else must fail.
    if index < 9 and oracle_cpf(flipped[:9]) == flipped and len(set(flipped)) > 1:
        assert validate_cpf(flipped) == flipped
        return
    with pytest.raises(ValueError):
        validate_cpf(flipped)


@given(cnpj_bodies)
def test_cnpj_generated_accepted(body: str) -> None:
    assume(len(set(body)) > 1)
    cnpj = oracle_cnpj(body)
    assert validate_cnpj(cnpj) == cnpj
    assert validate_cnpj(cnpj.lower()) == cnpj
    assert validate_document(cnpj) == ("cnpj", cnpj)


@given(cnpj_bodies, st.integers(0, 13), st.integers(1, 9))
def test_cnpj_flipped_char_rejected(body: str, index: int, shift: int) -> None:
    cnpj = oracle_cnpj(body)
    alphabet = string.digits if index >= 12 else string.digits + string.ascii_uppercase
    flipped = _flip(cnpj, index, alphabet, shift)
    if index < 12 and oracle_cnpj(flipped[:12]) == flipped and len(set(flipped)) > 1:
        assert validate_cnpj(flipped) == flipped
        return
    with pytest.raises(ValueError):
        validate_cnpj(flipped)


@given(digit_strings, st.integers(1, 9))
def test_cpf_check_digit_change_always_rejected(body: str, shift: int) -> None:
    cpf = oracle_cpf(body)
    for index in (9, 10):
        with pytest.raises(ValueError):
            validate_cpf(_flip(cpf, index, string.digits, shift))
