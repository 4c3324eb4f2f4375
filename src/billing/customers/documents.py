"""Brazilian tax documents: CPF (people) and CNPJ (companies), by check digits.

CNPJ also accepts the alphanumeric format the Receita Federal issues from July
2026 (IN RFB 2.229/2024): 12 characters in [0-9A-Z] followed by 2 numeric check
digits. Each character counts as ``ord(c) - 48``, so digits keep their value and
'A' is 17, which makes the classic numeric CNPJ a special case of the new rule.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["validate_cnpj", "validate_cpf", "validate_document"]

# Punctuation people type in: 123.456.789-09, 12.345.678/0001-95, spaces.
_SEPARATORS = re.compile(r"[.\-/\s]")
_CPF = re.compile(r"[0-9]{11}")
_CNPJ = re.compile(r"[0-9A-Z]{12}[0-9]{2}")

_CPF_WEIGHTS = (11, 10, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def _strip(value: object, kind: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{kind} must be a string, got {type(value).__name__}")
    return _SEPARATORS.sub("", value).upper()


def _check_digit(body: str, weights: tuple[int, ...]) -> int:
    # Modulo 11: the weights are right-aligned with the body (the shorter first
    # pass uses the tail of the weight list); remainder 0 or 1 gives digit 0.
    total = sum((ord(c) - 48) * w for c, w in zip(body, weights[-len(body) :], strict=True))
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def _check_digits(body: str, weights: tuple[int, ...]) -> str:
    first = _check_digit(body, weights)
    second = _check_digit(body + str(first), weights)
    return f"{first}{second}"


def validate_cpf(value: str) -> str:
    """Return the 11-digit CPF, or raise ``ValueError`` saying what is wrong."""
    cpf = _strip(value, "CPF")
    if not _CPF.fullmatch(cpf):
        raise ValueError(f"CPF must have 11 digits, got {value!r}")
    # 000.000.000-00 .. 999.999.999-99 pass the checksum but are never issued.
    if len(set(cpf)) == 1:
        raise ValueError(f"CPF with all digits equal is invalid: {value!r}")
    if cpf[9:] != _check_digits(cpf[:9], _CPF_WEIGHTS):
        raise ValueError(f"CPF check digits do not match: {value!r}")
    return cpf


def validate_cnpj(value: str) -> str:
    """Return the 14-character CNPJ (upper-case), or raise ``ValueError``."""
    cnpj = _strip(value, "CNPJ")
    if not _CNPJ.fullmatch(cnpj):
        raise ValueError(
            f"CNPJ must have 12 digits or letters followed by 2 check digits, got {value!r}"
        )
    if len(set(cnpj)) == 1:
        raise ValueError(f"CNPJ with all characters equal is invalid: {value!r}")
    if cnpj[12:] != _check_digits(cnpj[:12], _CNPJ_WEIGHTS):
        raise ValueError(f"CNPJ check digits do not match: {value!r}")
    return cnpj


def validate_document(value: str) -> tuple[Literal["cpf", "cnpj"], str]:
    """Validate a CPF or a CNPJ, told apart by length (11 or 14 characters)."""
    stripped = _strip(value, "document")
    if len(stripped) == 11:
        return "cpf", validate_cpf(value)
    if len(stripped) == 14:
        return "cnpj", validate_cnpj(value)
    raise ValueError(f"document must be a CPF (11 digits) or a CNPJ (14 characters), got {value!r}")
