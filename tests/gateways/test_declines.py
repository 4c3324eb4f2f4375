from __future__ import annotations

import pytest

from billing.gateways.declines import (
    AUTHENTICATION_CODES,
    HARD_CODES,
    SOFT_CODES,
    classify_decline,
    payer_message,
)


@pytest.mark.parametrize(
    ("decline_code", "code", "status", "expected"),
    [
        ("insufficient_funds", "card_declined", None, "soft"),
        ("processing_error", None, None, "soft"),
        ("generic_decline", "card_declined", None, "soft"),
        ("try_again_later", None, None, "soft"),
        ("do_not_honor", None, None, "soft"),
        ("issuer_not_available", None, None, "soft"),
        ("reenter_transaction", None, None, "soft"),
        ("approve_with_id", None, None, "soft"),
        ("card_velocity_exceeded", None, None, "soft"),
        ("withdrawal_count_limit_exceeded", None, None, "soft"),
        ("stolen_card", "card_declined", None, "hard"),
        ("lost_card", None, None, "hard"),
        ("fraudulent", None, None, "hard"),
        ("pickup_card", None, None, "hard"),
        ("restricted_card", None, None, "hard"),
        ("expired_card", None, None, "hard"),
        ("incorrect_number", None, None, "hard"),
        ("invalid_account", None, None, "hard"),
        ("card_not_supported", None, None, "hard"),
        ("currency_not_supported", None, None, "hard"),
        ("do_not_try_again", None, None, "hard"),
        ("security_violation", None, None, "hard"),
        ("revocation_of_authorization", None, None, "hard"),
        ("authentication_required", "card_declined", None, "authentication_required"),
        (None, "authentication_required", None, "authentication_required"),
        (None, "card_declined", "requires_action", "authentication_required"),
        (None, "expired_card", None, "hard"),  # code alone
        (None, "card_declined", None, "soft"),  # no issuer reason: generic
        ("brand_new_code_2031", None, None, "soft"),  # unknown: soft, see module doc
        (None, None, None, "soft"),
    ],
)
def test_classification(
    decline_code: str | None, code: str | None, status: str | None, expected: str
) -> None:
    assert classify_decline(decline_code, code, status) == expected


def test_code_sets_are_disjoint() -> None:
    assert not (SOFT_CODES & HARD_CODES)
    assert not (SOFT_CODES & AUTHENTICATION_CODES)
    assert not (HARD_CODES & AUTHENTICATION_CODES)


def test_payer_messages_by_locale() -> None:
    assert "insuficiente" in payer_message("insufficient_funds", "pt-BR")
    assert "insufficient" in payer_message("insufficient_funds", "en")
    assert "vencido" in payer_message("expired_card", "pt_BR")
    assert payer_message("expired_card", "fr") == payer_message("expired_card", "en")


@pytest.mark.parametrize("code", ["fraudulent", "stolen_card", "lost_card"])
def test_fraud_reasons_are_not_revealed(code: str) -> None:
    for locale in ("pt-BR", "en"):
        text = payer_message(code, locale).lower()
        assert not any(w in text for w in ("fraud", "roubad", "stolen", "perdid", "lost"))
        assert payer_message(code, locale) == payer_message("pickup_card", locale)


def test_every_known_code_has_a_distinct_actionable_message() -> None:
    for code in SOFT_CODES | HARD_CODES | AUTHENTICATION_CODES | {None, "unknown"}:
        pt, en = payer_message(code, "pt-BR"), payer_message(code, "en")
        assert pt != en and len(pt) > 40 and len(en) > 40
    assert payer_message("authentication_required", "pt-BR") != payer_message(None, "pt-BR")
