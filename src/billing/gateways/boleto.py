"""Bank boleto numbers (FEBRABAN layout): 44-digit barcode and 47-digit typeable line."""

from __future__ import annotations

from datetime import date

_FACTOR_BASE = date(1997, 10, 7)


def mod10(digits: str) -> int:
    """Module-10 check digit of a typeable-line field (weights 2,1,2,... from the right)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def mod11(digits: str) -> int:
    """Module-11 general check digit of the barcode (weights 2..9 from the right).

    Results 0, 10 and 11 become 1: the barcode's DV is never 0.
    """
    total = sum(int(ch) * (2 + i % 8) for i, ch in enumerate(reversed(digits)))
    dv = 11 - total % 11
    return 1 if dv in (0, 10, 11) else dv


def due_factor(due: date) -> int:
    """Days since 1997-10-07; the factor rolled over from 9999 to 1000 on 2025-02-22."""
    days = (due - _FACTOR_BASE).days
    if days < 1000:
        raise ValueError("due date before the factor range")
    return (days - 1000) % 9000 + 1000


def build_barcode(*, bank: str, amount: int, due: date, free_field: str) -> str:
    if len(bank) != 3 or not bank.isdigit():
        raise ValueError("bank code must be 3 digits")
    if len(free_field) != 25 or not free_field.isdigit():
        raise ValueError("free field must be 25 digits")
    if not 0 < amount <= 9_999_999_999:
        raise ValueError("amount out of the boleto range")
    tail = f"{due_factor(due):04d}{amount:010d}{free_field}"
    head = f"{bank}9"  # 9 = real (BRL)
    return f"{head}{mod11(head + tail)}{tail}"


def typeable_line(barcode: str) -> str:
    """The 47-digit linha digitável of a 44-digit barcode."""
    if len(barcode) != 44 or not barcode.isdigit():
        raise ValueError("barcode must be 44 digits")
    free = barcode[19:44]
    f1 = barcode[0:4] + free[0:5]
    f2 = free[5:15]
    f3 = free[15:25]
    return f"{f1}{mod10(f1)}{f2}{mod10(f2)}{f3}{mod10(f3)}{barcode[4]}{barcode[5:19]}"


def barcode_from_line(line: str) -> str:
    digits = "".join(c for c in line if c.isdigit())
    if len(digits) != 47:
        raise ValueError("typeable line must have 47 digits")
    return digits[0:4] + digits[32] + digits[33:47] + digits[4:9] + digits[10:20] + digits[21:31]


def is_valid_line(line: str) -> bool:
    """Recompute the three field DVs (mod 10) and the general DV (mod 11)."""
    digits = "".join(c for c in line if c.isdigit())
    if len(digits) != 47:
        return False
    fields = ((0, 9), (10, 20), (21, 31))
    if any(mod10(digits[a:b]) != int(digits[b]) for a, b in fields):
        return False
    barcode = barcode_from_line(digits)
    return mod11(barcode[:4] + barcode[5:]) == int(barcode[4])
