"""Decline classification and payer-facing reasons.

Codes follow Stripe's documented decline codes (https://docs.stripe.com/declines/codes).
- soft: the same card may go through later (retry on the dunning schedule);
- hard: retrying the same card cannot succeed, or must not be tried (fraud, closed,
  wrong data): stop retrying and ask the payer for another method;
- authentication_required: the payer must be present (3-D Secure, PIN).

An unknown code is classified *soft*: the retry schedule is bounded (max_attempts), so a
wrongly soft code costs a few extra declined attempts, while a wrongly hard one would stop
collecting from a payer who could pay. Card networks also add new codes over time.
"""

from __future__ import annotations

from billing.gateways.port import DeclineType

SOFT_CODES: frozenset[str] = frozenset(
    {
        "approve_with_id",
        "call_issuer",
        "card_decline_rate_limit_exceeded",
        "card_velocity_exceeded",
        "do_not_honor",
        "duplicate_transaction",
        "generic_decline",
        "insufficient_funds",
        "invalid_amount",
        "issuer_not_available",
        "no_action_taken",
        "processing_error",
        "reenter_transaction",
        "try_again_later",
        "withdrawal_count_limit_exceeded",
    }
)

HARD_CODES: frozenset[str] = frozenset(
    {
        "card_not_supported",
        "currency_not_supported",
        "do_not_try_again",
        "expired_card",
        "fraudulent",
        "incorrect_cvc",
        "incorrect_number",
        "incorrect_pin",
        "incorrect_zip",
        "invalid_account",
        "invalid_cvc",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_number",
        "invalid_pin",
        "lost_card",
        "merchant_blacklist",
        "new_account_information_available",
        "not_permitted",
        "pickup_card",
        "pin_try_exceeded",
        "restricted_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "service_not_allowed",
        "stolen_card",
        "stop_payment_order",
        "testmode_decline",
        "transaction_not_allowed",
    }
)

AUTHENTICATION_CODES: frozenset[str] = frozenset(
    {
        "authentication_required",
        "offline_pin_required",
        "online_or_offline_pin_required",
        "payment_intent_authentication_failure",
    }
)


def _lookup(code: str | None) -> DeclineType | None:
    if not code:
        return None
    if code in AUTHENTICATION_CODES:
        return "authentication_required"
    if code in HARD_CODES:
        return "hard"
    if code in SOFT_CODES:
        return "soft"
    return None


def classify_decline(
    decline_code: str | None, code: str | None = None, status: str | None = None
) -> DeclineType:
    """Classify a decline from Stripe's ``decline_code``, error ``code`` and PI status.

    ``decline_code`` is the issuer's reason and wins; ``code`` (e.g. ``card_declined``,
    ``expired_card``) is the fallback; a PaymentIntent left in ``requires_action`` needs
    the payer whatever the codes say.
    """
    if status == "requires_action":
        return "authentication_required"
    return _lookup(decline_code) or _lookup(code) or "soft"


# Payer-facing groups. Fraud-related reasons are deliberately shown as a neutral
# "the bank did not authorise" (Stripe's guidance: do not reveal fraud signals).
_GROUPS: dict[str, str] = {
    "insufficient_funds": "funds",
    "withdrawal_count_limit_exceeded": "funds",
    "card_velocity_exceeded": "funds",
    "expired_card": "expired",
    "incorrect_cvc": "data",
    "incorrect_number": "data",
    "incorrect_zip": "data",
    "invalid_cvc": "data",
    "invalid_expiry_month": "data",
    "invalid_expiry_year": "data",
    "invalid_number": "data",
    "incorrect_pin": "data",
    "invalid_pin": "data",
    "processing_error": "temporary",
    "issuer_not_available": "temporary",
    "try_again_later": "temporary",
    "reenter_transaction": "temporary",
    "card_decline_rate_limit_exceeded": "temporary",
    "card_not_supported": "unsupported",
    "currency_not_supported": "unsupported",
    "transaction_not_allowed": "unsupported",
    "service_not_allowed": "unsupported",
}

_MESSAGES: dict[str, dict[str, str]] = {
    "pt": {
        "funds": (
            "O pagamento não foi aprovado por saldo ou limite insuficiente no cartão. "
            "Você pode tentar de novo quando houver limite disponível ou pagar com "
            "outro cartão, Pix ou boleto."
        ),
        "expired": (
            "O cartão cadastrado está vencido. Cadastre um cartão válido ou pague com "
            "Pix ou boleto."
        ),
        "data": (
            "Alguns dados do cartão não conferem (número, validade ou código de "
            "segurança). Confira os dados e cadastre o cartão novamente."
        ),
        "temporary": (
            "Houve uma instabilidade temporária no processamento. Nenhum valor foi "
            "cobrado; tentaremos novamente em breve, ou você pode tentar em alguns "
            "minutos."
        ),
        "unsupported": (
            "Este cartão não aceita este tipo de compra. Use outro cartão ou pague "
            "com Pix ou boleto."
        ),
        "authentication": (
            "Seu banco pediu uma confirmação de segurança para este pagamento. Acesse "
            "o portal de pagamento e confirme a compra no aplicativo do seu banco."
        ),
        "refused": (
            "O banco emissor não autorizou o pagamento com este cartão. Por favor, use "
            "outro cartão, Pix ou boleto, ou fale com o seu banco."
        ),
        "generic": (
            "O pagamento não foi aprovado pelo banco emissor. Você pode tentar "
            "novamente, usar outro cartão, pagar com Pix ou boleto, ou falar com o "
            "seu banco."
        ),
    },
    "en": {
        "funds": (
            "The payment was not approved because the card has insufficient funds or "
            "credit. You can try again once there is enough available, or pay with "
            "another card, Pix or boleto."
        ),
        "expired": (
            "The card on file has expired. Please add a valid card or pay with Pix or boleto."
        ),
        "data": (
            "Some card details do not match (number, expiry date or security code). "
            "Please check them and add the card again."
        ),
        "temporary": (
            "There was a temporary processing problem. You have not been charged; we "
            "will try again shortly, or you can try again in a few minutes."
        ),
        "unsupported": (
            "This card does not accept this kind of purchase. Please use another card "
            "or pay with Pix or boleto."
        ),
        "authentication": (
            "Your bank asked for a security confirmation for this payment. Please open "
            "the payment portal and approve it in your bank's app."
        ),
        "refused": (
            "The card issuer did not authorise a payment with this card. Please use "
            "another card, Pix or boleto, or contact your bank."
        ),
        "generic": (
            "The payment was not approved by the card issuer. You can try again, use "
            "another card, pay with Pix or boleto, or contact your bank."
        ),
    },
}


def _language(locale: str) -> str:
    return "pt" if locale.replace("_", "-").lower().split("-")[0] == "pt" else "en"


def payer_message(decline_code: str | None, locale: str = "pt-BR") -> str:
    """A respectful, actionable reason for the payer (pt-BR or en; others get en)."""
    group = _GROUPS.get(decline_code or "")
    if group is None:
        kind = _lookup(decline_code)
        if kind == "authentication_required":
            group = "authentication"
        elif kind == "hard":
            group = "refused"
        else:
            group = "generic"
    return _MESSAGES[_language(locale)][group]
