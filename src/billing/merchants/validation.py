"""Checks on the merchant's public identity (it is printed on every collection message)."""

from __future__ import annotations

import re
from typing import Any

from billing.kit.errors import ValidationFailed

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def validate_profile_change(changes: dict[str, Any]) -> dict[str, Any]:
    from billing.merchants.service import PROFILE_FIELDS, check_currency, check_timezone

    clean: dict[str, Any] = {}
    for field, value in changes.items():
        if field not in PROFILE_FIELDS:
            raise ValidationFailed(field, "is not a merchant field")
        if field == "name" and (not isinstance(value, str) or not value.strip()):
            raise ValidationFailed("name", "must not be empty")
        if field == "timezone":
            value = check_timezone(value)
        if field == "currency":
            value = check_currency(value)
        if field == "brand_color" and value is not None and not _COLOR.match(value):
            raise ValidationFailed("brand_color", "must look like #1A2B3C")
        if field == "document" and value is not None:
            value = _check_cnpj_or_cpf(value)
        if field == "support_email" and value is not None and "@" not in value:
            raise ValidationFailed("support_email", "must be an e-mail address")
        clean[field] = value
    return clean


def _check_cnpj_or_cpf(value: str) -> str:
    from billing.customers.documents import validate_document

    try:
        return validate_document(value)[1]
    except ValueError as exc:
        raise ValidationFailed("document", str(exc)) from exc
