"""Every template x tone x locale x channel: renders, names the merchant, stays respectful."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import replace
from datetime import date
from html.parser import HTMLParser

import pytest
from babel.dates import format_date

from billing.kit.money import format_money
from billing.notifications import (
    CHANNELS,
    LOCALES,
    SMS_MAX_CHARS,
    TEMPLATES,
    TONES,
    MessageContext,
    MessageTooLong,
    RenderedMessage,
    format_cnpj,
    render,
    resolve_locale,
)

PORTAL = "https://pagar.acme.com.br/p/Xk29fQa8LmZ7"
BEFORE_DUE = {"reminder", "due_today"}

BASE = MessageContext(
    merchant_name="Acme Cursos",
    merchant_legal_name="Acme Educação Ltda",
    merchant_document="12345678000190",
    support_email="suporte@acme.com.br",
    support_phone="(11) 4002-8922",
    payer_name="Ana Beatriz Souza",
    payer_email="ana@example.com",
    payer_phone="+5511999990000",
    amount=12990,
    currency="BRL",
    due_at=date(2026, 3, 10),
    installment="Parcela 3 de 12 do Plano Pro",
    portal_url=PORTAL,
    brand_color="#0f766e",
)
OVERDUE = replace(
    BASE,
    late_fee=260,
    interest=130,
    days_overdue=10,
    decline_reason="saldo insuficiente",
    paid_at=date(2026, 3, 20),
    offer_max_installments=6,
)


def context_for(template: str) -> MessageContext:
    return BASE if template in BEFORE_DUE else OVERDUE


# CDC art. 42: no ridicule, threats, exposure or pressure. Matched on whole words after
# lower-casing and stripping accents, so "Polícia" and "POLICIA" are both caught.
# fmt: off
FORBIDDEN: dict[str, list[str]] = {
    "pt-BR": [
        "ameaca", "ameacar", "spc", "serasa", "scpc", "boa vista", "nome sujo", "sujar",
        "negativar", "negativacao", "negativado", "cadastro de inadimplentes", "inadimplente",
        "protesto", "protestar", "cartorio", "policia", "prisao", "preso", "cadeia",
        "delegacia", "processo criminal", "processo judicial", "judicial", "justica",
        "advogado", "juridico", "tribunal", "crime", "vergonha", "vergonhoso", "caloteiro",
        "calote", "devedor", "devedora", "mau pagador", "familia", "familiares",
        "empregador", "chefe", "vizinhos", "ultima chance", "urgente", "imediatamente",
        "consequencias graves",
    ],
    "en": [
        "threat", "threaten", "credit bureau", "credit report", "blacklist", "police",
        "jail", "prison", "arrest", "criminal", "lawsuit", "sue", "court", "attorney",
        "lawyer", "legal action", "shame", "ashamed", "embarrass", "deadbeat", "debtor",
        "delinquent", "defaulter", "family", "employer", "boss", "neighbors", "last chance",
        "urgent", "immediately", "collection agency", "serasa", "spc",
    ],
}
# fmt: on


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v for k, v in attrs if k == "href" and v]

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(html: str) -> tuple[str, list[str]]:
    parser = _TextOnly()
    parser.feed(html)
    return "".join(parser.parts), parser.hrefs


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def all_text(msg: RenderedMessage) -> str:
    parts = [msg.subject or "", msg.text]
    if msg.html:
        parts.append(html_text(msg.html)[0])
    return "\n".join(parts)


COMBOS = [
    (t, tone, loc, ch) for t in TEMPLATES for tone in TONES for loc in LOCALES for ch in CHANNELS
]


def test_catalogue_is_complete() -> None:
    assert len(TEMPLATES) == 8
    assert TONES == ("friendly", "firm", "final")
    assert len(COMBOS) == 8 * 3 * 2 * 4


@pytest.mark.parametrize(("template", "tone", "locale", "channel"), COMBOS)
def test_every_message(template: str, tone: str, locale: str, channel: str) -> None:
    ctx = context_for(template)
    msg = render(template, tone=tone, locale=locale, channel=channel, context=ctx)  # type: ignore[arg-type]
    text = all_text(msg)
    money = lambda amount: format_money(amount, "BRL", locale)  # noqa: E731

    # Identity (CDC art. 42-A), the payer, the amount and where to pay: on every channel.
    for needle in ("Acme Cursos", "12.345.678/0001-90", "(11) 4002-8922", "Ana", PORTAL):
        assert needle in msg.text, needle
    assert "Beatriz" not in msg.text  # first name only
    amount = money(OVERDUE.total_due) if template == "payment_received" else money(12990)
    assert amount in msg.text
    if channel != "sms":
        for needle in ("Acme Educação Ltda", "suporte@acme.com.br", "Parcela 3 de 12 do Plano Pro"):
            assert needle in msg.text, needle
        assert format_date(ctx.due_at, "long", locale=locale.replace("-", "_")) in msg.text
        if ctx.has_charges and template != "payment_received":
            for figure in (money(260), money(130), money(13380)):
                assert figure in msg.text, figure
    elif template != "payment_received":
        assert re.search(r"(10/03/2026|Mar 10, 2026)", msg.text)
        if ctx.has_charges and template not in ("reminder", "due_today"):
            assert money(13380) in msg.text

    if channel == "sms":
        assert len(msg.text) <= SMS_MAX_CHARS
        assert "\n" not in msg.text
        assert msg.subject is None and msg.html is None
    if channel == "whatsapp":
        assert msg.subject is None and msg.html is None
    if channel in ("email", "webhook"):
        assert msg.subject and "Acme Cursos" in msg.subject
    if channel == "email":
        assert msg.html is not None
        visible, hrefs = html_text(msg.html)
        assert PORTAL in hrefs
        assert "12.345.678/0001-90" in visible and amount in visible
        assert f'lang="{locale}"' in msg.html
        assert "#0f766e" in msg.html  # the merchant's brand colour
    else:
        assert msg.html is None
    if channel == "webhook":
        assert (
            msg.data["amount"] == 12990 and msg.data["merchant"]["document"] == "12.345.678/0001-90"
        )
    assert json.loads(json.dumps(msg.data)) == msg.data

    # Respectful at every tone: no forbidden words, no shouting, no exclamation pressure.
    folded = fold(text)
    for word in FORBIDDEN[locale]:
        assert not re.search(rf"\b{re.escape(word)}\b", folded), word
    for line in text.splitlines():
        letters = [ch for ch in line if ch.isalpha()]
        assert not (len(letters) >= 3 and all(ch.isupper() for ch in letters)), line
    assert "!!" not in text
    if tone != "friendly":
        assert "!" not in text


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_tones_differ(template: str, locale: str, channel: str) -> None:
    ctx = context_for(template)
    texts = {
        tone: render(template, tone=tone, locale=locale, channel=channel, context=ctx).text  # type: ignore[arg-type]
        for tone in TONES
    }
    assert len(set(texts.values())) == 3, texts


def test_consequence_escalates_with_tone() -> None:
    pt = {
        t: render("overdue", tone=t, locale="pt-BR", channel="email", context=OVERDUE).text
        for t in TONES
    }
    assert "suspenso" not in pt["friendly"] and "juros de mora continuam" not in pt["friendly"]
    assert "juros de mora continuam" in pt["firm"]
    assert "suspenso" in pt["final"] and "cancelada" in pt["final"]
    en = render("reminder", tone="final", locale="en", channel="email", context=BASE).text
    assert "suspended" in en and "late fee" in en


def test_declined_card_reason_in_plain_language() -> None:
    msg = render(
        "payment_failed", tone="friendly", locale="pt-BR", channel="email", context=OVERDUE
    )
    assert "saldo insuficiente" in msg.text
    assert "Atualizar o cartão" in (msg.html or "")


def test_before_due_has_no_fee_lines() -> None:
    text = render("reminder", tone="firm", locale="pt-BR", channel="email", context=BASE).text
    assert "Multa por atraso:" not in text and "Total para pagamento hoje" not in text


def test_html_escapes_merchant_values_and_rejects_odd_colours() -> None:
    ctx = replace(
        BASE, merchant_name="Acme <script>x</script> & Cia", brand_color="red;background:url(x)"
    )
    msg = render("reminder", tone="friendly", locale="pt-BR", channel="email", context=ctx)
    assert msg.html is not None
    assert "<script>" not in msg.html
    assert "Acme &lt;script&gt;x&lt;/script&gt; &amp; Cia" in msg.html
    assert "url(x)" not in msg.html
    assert "Acme <script>x</script> & Cia" in msg.text  # plain text is not HTML-escaped


def test_button_text_contrasts_with_brand_colour() -> None:
    light = render(
        "reminder",
        tone="friendly",
        locale="en",
        channel="email",
        context=replace(BASE, brand_color="#fde047"),
    )
    dark = render(
        "reminder",
        tone="friendly",
        locale="en",
        channel="email",
        context=replace(BASE, brand_color="#1e3a8a"),
    )
    assert "background:#fde047;color:#111111" in (light.html or "")
    assert "background:#1e3a8a;color:#ffffff" in (dark.html or "")


@pytest.mark.parametrize(
    ("asked", "used"),
    [
        ("pt-BR", "pt-BR"),
        ("pt_br", "pt-BR"),
        ("pt", "pt-BR"),
        ("pt-PT", "pt-BR"),
        ("en", "en"),
        ("en-US", "en"),
        ("es", "pt-BR"),
        ("", "pt-BR"),
        ("xx-YY", "pt-BR"),
    ],
)
def test_locale_fallback(asked: str, used: str) -> None:
    assert resolve_locale(asked) == used
    msg = render("due_today", tone="friendly", locale=asked, channel="whatsapp", context=BASE)
    assert msg.data["locale"] == used
    assert ("Olá, Ana," if used == "pt-BR" else "Hi Ana,") in msg.text


def test_unknown_names_are_errors() -> None:
    with pytest.raises(ValueError, match="template"):
        render("nag", tone="friendly", locale="pt-BR", channel="email", context=BASE)
    with pytest.raises(ValueError, match="tone"):
        render("reminder", tone="angry", locale="pt-BR", channel="email", context=BASE)
    with pytest.raises(ValueError, match="channel"):
        render("reminder", tone="firm", locale="pt-BR", channel="fax", context=BASE)  # type: ignore[arg-type]


def test_sms_shrinks_for_long_identity_and_keeps_essentials() -> None:
    ctx = replace(
        OVERDUE,
        merchant_name="Escola de Idiomas Horizonte",
        merchant_legal_name="Horizonte Ensino de Idiomas e Cursos Livres Ltda",
        installment="Parcela 10 de 12 do Curso Intensivo Avançado",
        amount=1234567,
        late_fee=24691,
        interest=12345,
        portal_url="https://pagamentos.horizonte.com.br/p/" + "A" * 22,
    )
    for template in TEMPLATES:
        for tone in TONES:
            for locale in LOCALES:
                sms = render(template, tone=tone, locale=locale, channel="sms", context=ctx).text
                assert len(sms) <= SMS_MAX_CHARS
                assert "Escola de Idiomas Horizonte" in sms and "12.345.678/0001-90" in sms
                assert ctx.portal_url in sms
    full = render("reminder", tone="friendly", locale="pt-BR", channel="sms", context=BASE).text
    assert "Acme Educação Ltda" in full  # short identity: nothing dropped


def test_sms_too_long_is_a_clear_error() -> None:
    ctx = replace(BASE, portal_url="https://example.com/" + "a" * 300)
    with pytest.raises(MessageTooLong, match="shorter portal link"):
        render("overdue", tone="final", locale="pt-BR", channel="sms", context=ctx)


def test_webhook_data_is_structured() -> None:
    msg = render("overdue", tone="firm", locale="en", channel="webhook", context=OVERDUE)
    assert msg.data["template"] == "overdue" and msg.data["tone"] == "firm"
    assert msg.data["late_fee"] == 260 and msg.data["interest"] == 130
    assert msg.data["amount_due"] == 13380 and msg.data["currency"] == "BRL"
    assert msg.data["installment"] == {
        "description": "Parcela 3 de 12 do Plano Pro",
        "due_at": "2026-03-10",
        "days_overdue": 10,
        "paid_at": "2026-03-20",
    }
    assert msg.data["payer"]["first_name"] == "Ana"
    assert msg.data["portal_url"] == PORTAL
    assert msg.subject and msg.text.startswith("Hi Ana,")


def test_amount_due_given_explicitly_wins() -> None:
    ctx = replace(OVERDUE, amount_due=13000)  # e.g. after a partial payment
    msg = render("overdue", tone="firm", locale="pt-BR", channel="email", context=ctx)
    assert "Total para pagamento hoje: R$\xa0130,00" in msg.text


def test_cnpj_formatting() -> None:
    assert format_cnpj("12345678000190") == "12.345.678/0001-90"
    assert format_cnpj("12.345.678/0001-90") == "12.345.678/0001-90"
    assert format_cnpj("12abc34501de35") == "12.ABC.345/01DE-35"  # alphanumeric CNPJ (2026)
    for bad in ("1234567800019", "123456780001900", "12345678/0001-9X"):
        with pytest.raises(ValueError):
            format_cnpj(bad)
    with pytest.raises(ValueError):
        replace(BASE, merchant_document="123")
    with pytest.raises(ValueError):
        replace(BASE, amount=-1)
    with pytest.raises(ValueError):
        replace(BASE, portal_url="javascript:alert(1)")
