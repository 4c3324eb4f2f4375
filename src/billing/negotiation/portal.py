"""The payer's renegotiation pages in the portal: the options the policy allows, the exact
schedule of the chosen one, and the confirmation that makes the agreement.

Words live here (pt-BR and en) rather than in the portal's catalog so the portal files stay
untouched; the pages reuse the portal's session, CSRF guard, brand and error pages.
"""

from __future__ import annotations

from litestar import get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.clock import Clock
from billing.kit.errors import NotFound, ValidationFailed
from billing.models import Merchant
from billing.negotiation import service
from billing.negotiation.quote import PAYMENT_METHODS, Quote
from billing.portal.sessions import Payer
from billing.portal.web import (
    AnyRequest,
    Form,
    PortalController,
    redirect,
    render,
)

WORDS: dict[str, dict[str, str]] = {
    "pt-BR": {
        "title": "Renegociar a dívida",
        "intro": "Estas parcelas em atraso podem entrar em um acordo:",
        "none": "No momento não há proposta de renegociação para você.",
        "installment": "Parcela nº {number}",
        "owed": "Valor",
        "fees": "Multa e juros",
        "choose": "Escolha uma opção",
        "cash": "À vista: {total} (desconto de {discount})",
        "parts": "{n}x de {amount} (total {total})",
        "method": "Como você quer pagar as parcelas?",
        "card": "Cartão salvo (cobrança automática)",
        "pix": "Pix",
        "boleto": "Boleto bancário",
        "review": "Ver o cronograma",
        "review_title": "Confira o acordo antes de confirmar",
        "principal": "Parcelas originais",
        "waived": "Multa e juros dispensados",
        "discount": "Desconto à vista",
        "total": "Total do acordo",
        "seq": "Parcela",
        "due": "Vencimento",
        "amount": "Valor",
        "confirm": "Confirmar o acordo",
        "back": "Escolher outra opção",
        "terms": "Se uma parcela do acordo ficar mais de {days} dias em atraso, o acordo é "
        "desfeito e a dívida original volta, descontado o que você já pagou.",
    },
    "en": {
        "title": "Renegotiate your debt",
        "intro": "These overdue installments can go into an agreement:",
        "none": "There is no renegotiation offer for you at the moment.",
        "installment": "Installment #{number}",
        "owed": "Amount",
        "fees": "Late fee and interest",
        "choose": "Choose an option",
        "cash": "Pay all now: {total} ({discount} off)",
        "parts": "{n} installments of {amount} (total {total})",
        "method": "How do you want to pay the installments?",
        "card": "Saved card (charged automatically)",
        "pix": "Pix",
        "boleto": "Boleto",
        "review": "See the schedule",
        "review_title": "Check the agreement before you confirm",
        "principal": "Original installments",
        "waived": "Late fee and interest waived",
        "discount": "Cash discount",
        "total": "Agreement total",
        "seq": "Installment",
        "due": "Due date",
        "amount": "Amount",
        "confirm": "Confirm the agreement",
        "back": "Choose another option",
        "terms": "If an installment of the agreement is more than {days} days overdue, the "
        "agreement ends and the original debt comes back, minus what you have paid.",
    },
}


def _words(payer: Payer) -> dict[str, str]:
    return WORDS["en" if payer.locale.startswith("en") else "pt-BR"]


async def _merchant(session: AsyncSession, payer: Payer) -> Merchant:
    merchant = await session.get(Merchant, payer.merchant_id)
    if merchant is None:
        raise NotFound("No merchant")
    return merchant


def _pick(quotes: list[Quote], raw: str | None) -> Quote:
    for q in quotes:
        if str(q.installment_count) == (raw or ""):
            return q
    raise ValidationFailed("installments", "choose one of the options offered")


class PortalNegotiation(PortalController):
    path = "/portal/negotiate"

    @get("/")
    async def options(
        self, request: AnyRequest, payer: Payer, db_session: AsyncSession, clock: Clock
    ) -> Template:
        merchant = await _merchant(db_session, payer)
        policy, items, quotes = await service.negotiation_options(
            db_session, merchant, payer.customer_id, now=clock.now()
        )
        return render(
            request, "negotiate.html.jinja", payer=payer, w=_words(payer), items=items,
            quotes=quotes if policy.enabled else [], currency=merchant.currency,
            methods=PAYMENT_METHODS,
        )  # fmt: skip

    @get("/review")
    async def review(
        self,
        request: AnyRequest,
        payer: Payer,
        db_session: AsyncSession,
        clock: Clock,
        installments: str = "",
        method: str = "boleto",
    ) -> Template:
        merchant = await _merchant(db_session, payer)
        policy, _items, quotes = await service.negotiation_options(
            db_session, merchant, payer.customer_id, now=clock.now()
        )
        if not policy.enabled:
            raise ValidationFailed("installments", "no renegotiation offer")
        if method not in PAYMENT_METHODS:
            raise ValidationFailed("method", "choose how to pay")
        return render(
            request, "negotiate_review.html.jinja", payer=payer, w=_words(payer),
            quote=_pick(quotes, installments), method=method, currency=merchant.currency,
            break_after_days=policy.break_after_days,
        )  # fmt: skip

    @post("/")
    async def confirm(
        self, data: Form, payer: Payer, db_session: AsyncSession, clock: Clock
    ) -> Redirect:
        merchant = await _merchant(db_session, payer)
        raw = data.get("installments") or ""
        if not raw.isdigit():
            raise ValidationFailed("installments", "choose one of the options offered")
        agreement = await service.create_agreement(
            db_session,
            merchant,
            payer.customer_id,
            installments=int(raw),
            payment_method=data.get("method") or "",
            source="portal",
            now=clock.now(),
        )
        links = await service.agreement_invoices(db_session, [agreement.id])
        first = next(inv for link, inv in links[agreement.id] if link.role == "installment")
        # The first installment is due today: straight to paying it.
        return redirect(f"/portal/invoices/{first.id}/pay")
