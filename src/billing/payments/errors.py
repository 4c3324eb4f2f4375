"""Payment problems as API.md names them."""

from __future__ import annotations

from typing import Any

from billing.kit.errors import ProblemError


class CardDeclined(ProblemError):
    """402 ``card_declined`` with the gateway's ``decline_code`` (API.md)."""

    status = 402
    code = "card_declined"

    def __init__(self, detail: str, *, decline_code: str | None, **extra: Any) -> None:
        super().__init__(detail, extra={"decline_code": decline_code, **extra})


class PaymentNotPossible(ProblemError):
    """409: the invoice cannot be charged right now (paid, void, in flight, no method)."""

    status = 409
