"""The portal's words in pt-BR and en, and locale-aware formatting of money and dates.

One catalog instead of two template trees: a page's structure is written once, so the
two languages cannot drift apart. An unknown key fails loudly in tests (KeyError).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date

from billing.kit.money import format_money
from billing.notifications import resolve_locale

LOCALES = ("pt-BR", "en")

_PT: dict[str, str] = {
    "lang.name": "Português",
    "lang.switch": "English",
    "skip": "Pular para o conteúdo",
    "nav.overview": "Resumo",
    "nav.invoices": "Parcelas",
    "nav.methods": "Formas de pagamento",
    "nav.help": "Ajuda",
    "nav.logout": "Sair",
    "nav.back_to_merchant": "Voltar para {merchant}",
    "nav.label": "Menu do portal",
    "overview.title": "Olá, {name}",
    "overview.overdue_title": "Pagamento em atraso",
    "overview.overdue_intro": (
        "Há {count} parcela(s) vencida(s). O valor para pagamento hoje já inclui multa e juros."
    ),
    "overview.due_today": "Total para hoje",
    "overview.nothing_due": "Você está em dia. Obrigado!",
    "overview.subscriptions": "Suas assinaturas",
    "overview.no_subscriptions": "Você não tem assinaturas.",
    "overview.next_charge": "Próxima cobrança",
    "overview.open_title": "Parcelas em aberto",
    "sub.plan": "Plano",
    "sub.status": "Situação",
    "sub.renews": "Próxima cobrança em {date}: {amount}",
    "sub.ends": "Encerra em {date}",
    "sub.change_plan": "Trocar de plano",
    "sub.cancel": "Cancelar assinatura",
    "status.active": "Ativa",
    "status.trialing": "Em período de teste",
    "status.past_due": "Pagamento pendente",
    "status.unpaid": "Não paga",
    "status.paused": "Pausada",
    "status.canceled": "Cancelada",
    "inv.status.paid": "Paga",
    "inv.status.open": "Em aberto",
    "inv.status.overdue": "Vencida",
    "inv.status.void": "Cancelada",
    "inv.status.uncollectible": "Baixada",
    "inv.status.draft": "Rascunho",
    "inv.status.processing": "Pagamento em processamento",
    "inv.title": "Parcela nº {number}",
    "inv.list_title": "Suas parcelas",
    "inv.none": "Nenhuma parcela ainda.",
    "inv.number": "Nº",
    "inv.due": "Vencimento",
    "inv.amount": "Valor",
    "inv.status": "Situação",
    "inv.paid_at": "Paga em",
    "inv.view": "Ver detalhes",
    "inv.view_n": "Ver detalhes da parcela nº {number}",
    "inv.pay_now": "Pagar agora",
    "inv.pay_n": "Pagar a parcela nº {number}",
    "inv.subtotal": "Valor da parcela",
    "inv.discount": "Desconto",
    "inv.late_fee": "Multa",
    "inv.interest": "Juros",
    "inv.total_today": "Total para pagamento hoje",
    "inv.amount_paid": "Valor pago",
    "inv.lines": "Itens",
    "inv.period": "Período",
    "inv.receipt": "Recibo",
    "inv.receipt_text": "Recebemos {amount} em {date}. Obrigado!",
    "inv.attempts": "Tentativas de pagamento",
    "inv.attempt_failed": "Não aprovado",
    "inv.attempt_succeeded": "Aprovado",
    "inv.attempt_processing": "Em processamento",
    "inv.attempt_requires_action": "Aguardando confirmação",
    "inv.last_decline": "Último pagamento não aprovado",
    "pay.title": "Pagar a parcela nº {number}",
    "pay.choose": "Como você quer pagar?",
    "pay.saved": "Cartão salvo {brand} final {last4}",
    "pay.new_card": "Cadastrar um novo cartão e pagar",
    "pay.pix": "Pix (aprovação na hora)",
    "pay.boleto": "Boleto bancário",
    "pay.submit": "Pagar {amount}",
    "pay.succeeded": "Pagamento aprovado! A parcela nº {number} está paga.",
    "pay.failed_title": "O pagamento não foi aprovado",
    "pay.what_to_do": "O que fazer",
    "pay.try_other": "Tente outra forma de pagamento abaixo.",
    "pay.pix_title": "Pague com Pix",
    "pay.pix_help": (
        "Abra o app do seu banco, escolha Pix e leia o QR code ou use o código copia e cola."
    ),
    "pay.pix_code": "Pix copia e cola",
    "pay.pix_qr_alt": "QR code Pix para pagar {amount}",
    "pay.copy": "Copiar código",
    "pay.pending_note": "Assim que o pagamento for confirmado, a parcela aparece como paga.",
    "pay.boleto_title": "Pague com boleto",
    "pay.boleto_line": "Linha digitável",
    "pay.boleto_due": "Vencimento do boleto: {date}",
    "pay.check_status": "Já paguei: ver situação",
    "pay.nothing_due": "Esta parcela não tem valor a pagar.",
    "pay.in_progress": "Já existe um pagamento em processamento para esta parcela.",
    "pay.requires_action": "O seu banco pediu uma confirmação de segurança.",
    "pay.authenticate": "Confirmar pagamento",
    "pay.no_method": "Cadastre uma forma de pagamento para pagar.",
    "methods.title": "Formas de pagamento",
    "methods.none": "Nenhuma forma de pagamento cadastrada.",
    "methods.default": "Principal",
    "methods.disabled": "Recusado pelo banco: cadastre outro",
    "methods.card": "{brand} final {last4}",
    "methods.expires": "validade {month:02d}/{year}",
    "methods.add": "Adicionar cartão",
    "methods.set_default": "Tornar principal",
    "methods.remove": "Remover",
    "methods.remove_label": "Remover {method}",
    "methods.default_label": "Tornar {method} a forma principal",
    "methods.added": "Cartão cadastrado.",
    "methods.removed": "Forma de pagamento removida.",
    "methods.default_set": "Forma de pagamento principal alterada.",
    "methods.pix": "Pix",
    "methods.boleto": "Boleto",
    "sandbox.title": "Cadastrar cartão (ambiente de testes)",
    "sandbox.intro": (
        "Ambiente de testes: escolha um cartão de teste. Nenhum dado de cartão real é usado."
    ),
    "sandbox.card": "Cartão de teste",
    "sandbox.save": "Salvar cartão",
    "sandbox.cancel": "Voltar sem salvar",
    "card.title": "Cadastrar cartão",
    "card.intro": (
        "Os dados do cartão vão direto, com segurança, para o processador de pagamentos: "
        "{merchant} não vê o número do cartão."
    ),
    "card.details": "Dados do cartão",
    "card.save": "Salvar cartão",
    "card.saving": "Salvando…",
    "card.cancel": "Voltar sem salvar",
    "card.no_js": (
        "Para cadastrar um cartão, ative o JavaScript no navegador: o formulário seguro do "
        "processador de pagamentos precisa dele. Você também pode pagar com Pix ou boleto."
    ),
    "card.error.unavailable": (
        "O formulário seguro do cartão não carregou. Verifique sua conexão e recarregue a página."
    ),
    "card.error.declined": (
        "O banco não aceitou este cartão. Confira os dados ou use outro cartão; se "
        "continuar, fale com o seu banco."
    ),
    "card.error.number": "O número do cartão está incorreto. Confira e tente de novo.",
    "card.error.expiry": "A data de validade está incorreta. Confira e tente de novo.",
    "card.error.expired": "Este cartão está vencido. Use outro cartão.",
    "card.error.cvc": "O código de segurança (CVV) está incorreto. Confira e tente de novo.",
    "card.error.authentication": (
        "A confirmação de segurança do banco não foi concluída. Tente de novo ou use outro cartão."
    ),
    "card.error.temporary": (
        "Houve uma instabilidade temporária. Nada foi salvo; tente de novo em alguns minutos."
    ),
    "card.error.generic": (
        "Não foi possível salvar o cartão. Confira os dados e tente de novo, ou use outro cartão."
    ),
    "plan.title": "Trocar de plano",
    "plan.current": "Plano atual: {plan} ({amount} {interval})",
    "plan.choose": "Escolha o novo plano",
    "plan.preview": "Ver valores",
    "plan.none": "Não há outros planos disponíveis.",
    "plan.preview_title": "Confira a troca de plano",
    "plan.from_to": "De {old} para {new}",
    "plan.credit": "Crédito pelo tempo não usado de {plan}",
    "plan.charge": "Tempo restante em {plan}",
    "plan.net_charge": "A cobrar agora",
    "plan.net_credit": "Crédito para as próximas parcelas",
    "plan.at_period_end": (
        "A troca vale a partir da próxima cobrança, em {date}. Nada é cobrado agora."
    ),
    "plan.restart": "Um novo ciclo começa hoje, no valor de {amount}, descontado o crédito.",
    "plan.confirm": "Confirmar troca",
    "plan.changed": "Plano alterado com sucesso.",
    "interval.day": "por dia",
    "interval.week": "por semana",
    "interval.month": "por mês",
    "interval.year": "por ano",
    "cancel.title": "Cancelar assinatura",
    "cancel.explain": (
        "A assinatura de {plan} continua ativa até {date}, período já cobrado. "
        "Depois disso, não haverá novas cobranças."
    ),
    "cancel.open_note": "Parcelas em aberto continuam devidas.",
    "cancel.confirm": "Confirmar cancelamento",
    "cancel.keep": "Manter assinatura",
    "cancel.done": (
        "Cancelamento agendado. A assinatura continua ativa até o fim do período já pago."
    ),
    "cancel.scheduled": "Cancelamento agendado",
    "help.title": "Ajuda e contato",
    "help.intro": "Dúvidas sobre cobranças? Fale com {merchant}:",
    "help.legal_name": "Razão social",
    "help.document": "CNPJ",
    "help.email": "E-mail",
    "help.phone": "Telefone",
    "help.address": "Endereço",
    "enter.title": "Portal de pagamentos de {merchant}",
    "enter.intro": "Para entrar com segurança, toque em Continuar.",
    "enter.continue": "Continuar",
    "auth.title": "Confirmação de segurança do banco (ambiente de testes)",
    "auth.intro": (
        "Ambiente de testes: esta página imita a confirmação que o seu banco pede "
        "(3-D Secure). Nenhum banco real é consultado."
    ),
    "auth.amount": "Pagamento de {amount} para {merchant}",
    "auth.approve": "Aprovar",
    "auth.fail": "Recusar",
    "auth.done": "Este pagamento não aguarda mais confirmação.",
    "login.title": "Acessar o portal de {merchant}",
    "login.intro": "Informe o e-mail cadastrado. Enviaremos um link de acesso.",
    "login.email": "E-mail",
    "login.submit": "Enviar link",
    "login.sent_title": "Confira seu e-mail",
    "login.sent": (
        "Se {email} estiver cadastrado, você receberá em instantes um link de acesso "
        "válido por 15 minutos."
    ),
    "login.limited_title": "Muitas tentativas",
    "login.limited": (
        "Muitos pedidos de link em pouco tempo. Aguarde alguns minutos e tente de novo."
    ),
    "logout.done": "Você saiu do portal.",
    "error.title": "Não foi possível abrir esta página",
    "error.link_expired": "Este link expirou. Peça um novo link de acesso.",
    "error.link_used": "Este link já foi usado. Por segurança, cada link vale uma vez só.",
    "error.link_invalid": "Este link não é válido. Confira se ele foi copiado por inteiro.",
    "error.session": "Sua sessão terminou. Peça um novo link de acesso.",
    "error.not_found": "Não encontramos o que você procurou.",
    "error.csrf": "O formulário expirou. Volte, recarregue a página e tente de novo.",
    "error.invalid": "Não foi possível concluir: {detail}",
    "error.request_link": "Pedir um novo link",
    "common.back": "Voltar",
    "common.continue": "Continuar",
    "common.brand_logo": "Logotipo de {merchant}",
}

_EN: dict[str, str] = {
    "lang.name": "English",
    "lang.switch": "Português",
    "skip": "Skip to content",
    "nav.overview": "Overview",
    "nav.invoices": "Installments",
    "nav.methods": "Payment methods",
    "nav.help": "Help",
    "nav.logout": "Sign out",
    "nav.back_to_merchant": "Back to {merchant}",
    "nav.label": "Portal menu",
    "overview.title": "Hello, {name}",
    "overview.overdue_title": "Payment overdue",
    "overview.overdue_intro": (
        "{count} installment(s) past due. The amount to pay today includes the late fee "
        "and interest."
    ),
    "overview.due_today": "Total due today",
    "overview.nothing_due": "You are all set. Thank you!",
    "overview.subscriptions": "Your subscriptions",
    "overview.no_subscriptions": "You have no subscriptions.",
    "overview.next_charge": "Next charge",
    "overview.open_title": "Open installments",
    "sub.plan": "Plan",
    "sub.status": "Status",
    "sub.renews": "Next charge on {date}: {amount}",
    "sub.ends": "Ends on {date}",
    "sub.change_plan": "Change plan",
    "sub.cancel": "Cancel subscription",
    "status.active": "Active",
    "status.trialing": "Trial",
    "status.past_due": "Payment pending",
    "status.unpaid": "Unpaid",
    "status.paused": "Paused",
    "status.canceled": "Canceled",
    "inv.status.paid": "Paid",
    "inv.status.open": "Open",
    "inv.status.overdue": "Overdue",
    "inv.status.void": "Void",
    "inv.status.uncollectible": "Written off",
    "inv.status.draft": "Draft",
    "inv.status.processing": "Payment processing",
    "inv.title": "Installment #{number}",
    "inv.list_title": "Your installments",
    "inv.none": "No installments yet.",
    "inv.number": "#",
    "inv.due": "Due date",
    "inv.amount": "Amount",
    "inv.status": "Status",
    "inv.paid_at": "Paid on",
    "inv.view": "View details",
    "inv.view_n": "View details of installment #{number}",
    "inv.pay_now": "Pay now",
    "inv.pay_n": "Pay installment #{number}",
    "inv.subtotal": "Installment amount",
    "inv.discount": "Discount",
    "inv.late_fee": "Late fee",
    "inv.interest": "Interest",
    "inv.total_today": "Total to pay today",
    "inv.amount_paid": "Amount paid",
    "inv.lines": "Items",
    "inv.period": "Period",
    "inv.receipt": "Receipt",
    "inv.receipt_text": "We received {amount} on {date}. Thank you!",
    "inv.attempts": "Payment attempts",
    "inv.attempt_failed": "Not approved",
    "inv.attempt_succeeded": "Approved",
    "inv.attempt_processing": "Processing",
    "inv.attempt_requires_action": "Awaiting confirmation",
    "inv.last_decline": "Last payment not approved",
    "pay.title": "Pay installment #{number}",
    "pay.choose": "How would you like to pay?",
    "pay.saved": "Saved card {brand} ending {last4}",
    "pay.new_card": "Add a new card and pay",
    "pay.pix": "Pix (instant)",
    "pay.boleto": "Boleto",
    "pay.submit": "Pay {amount}",
    "pay.succeeded": "Payment approved! Installment #{number} is paid.",
    "pay.failed_title": "The payment was not approved",
    "pay.what_to_do": "What to do",
    "pay.try_other": "Try another payment method below.",
    "pay.pix_title": "Pay with Pix",
    "pay.pix_help": "Open your bank's app, choose Pix and scan the QR code or paste the code.",
    "pay.pix_code": "Pix copy and paste code",
    "pay.pix_qr_alt": "Pix QR code to pay {amount}",
    "pay.copy": "Copy code",
    "pay.pending_note": "As soon as the payment is confirmed, the installment shows as paid.",
    "pay.boleto_title": "Pay with boleto",
    "pay.boleto_line": "Typeable line",
    "pay.boleto_due": "Boleto due date: {date}",
    "pay.check_status": "I have paid: check status",
    "pay.nothing_due": "Nothing is due on this installment.",
    "pay.in_progress": "A payment for this installment is already being processed.",
    "pay.requires_action": "Your bank asked for a security confirmation.",
    "pay.authenticate": "Confirm payment",
    "pay.no_method": "Add a payment method to pay.",
    "methods.title": "Payment methods",
    "methods.none": "No payment methods yet.",
    "methods.default": "Default",
    "methods.disabled": "Refused by the bank: add another",
    "methods.card": "{brand} ending {last4}",
    "methods.expires": "expires {month:02d}/{year}",
    "methods.add": "Add a card",
    "methods.set_default": "Make default",
    "methods.remove": "Remove",
    "methods.remove_label": "Remove {method}",
    "methods.default_label": "Make {method} the default method",
    "methods.added": "Card added.",
    "methods.removed": "Payment method removed.",
    "methods.default_set": "Default payment method changed.",
    "methods.pix": "Pix",
    "methods.boleto": "Boleto",
    "sandbox.title": "Add a card (test mode)",
    "sandbox.intro": "Test mode: choose a test card. No real card data is used.",
    "sandbox.card": "Test card",
    "sandbox.save": "Save card",
    "sandbox.cancel": "Go back without saving",
    "card.title": "Add a card",
    "card.intro": (
        "Your card details go straight to the payment processor, securely: {merchant} never "
        "sees the card number."
    ),
    "card.details": "Card details",
    "card.save": "Save card",
    "card.saving": "Saving…",
    "card.cancel": "Go back without saving",
    "card.no_js": (
        "To add a card, please turn on JavaScript in your browser: the payment processor's "
        "secure form needs it. You can also pay with Pix or boleto."
    ),
    "card.error.unavailable": (
        "The secure card form did not load. Please check your connection and reload the page."
    ),
    "card.error.declined": (
        "Your bank did not accept this card. Please check the details or use another card; "
        "if it keeps happening, contact your bank."
    ),
    "card.error.number": "The card number is not right. Please check it and try again.",
    "card.error.expiry": "The expiry date is not right. Please check it and try again.",
    "card.error.expired": "This card has expired. Please use another card.",
    "card.error.cvc": "The security code (CVC) is not right. Please check it and try again.",
    "card.error.authentication": (
        "Your bank's security check was not completed. Please try again or use another card."
    ),
    "card.error.temporary": (
        "There was a temporary problem. Nothing was saved; please try again in a few minutes."
    ),
    "card.error.generic": (
        "The card could not be saved. Please check the details and try again, or use another card."
    ),
    "plan.title": "Change plan",
    "plan.current": "Current plan: {plan} ({amount} {interval})",
    "plan.choose": "Choose the new plan",
    "plan.preview": "See amounts",
    "plan.none": "No other plans are available.",
    "plan.preview_title": "Review the plan change",
    "plan.from_to": "From {old} to {new}",
    "plan.credit": "Credit for unused time on {plan}",
    "plan.charge": "Remaining time on {plan}",
    "plan.net_charge": "To be charged now",
    "plan.net_credit": "Credit for your next installments",
    "plan.at_period_end": (
        "The change applies from the next charge, on {date}. Nothing is charged now."
    ),
    "plan.restart": "A new cycle starts today at {amount}, minus the credit.",
    "plan.confirm": "Confirm change",
    "plan.changed": "Your plan was changed.",
    "interval.day": "per day",
    "interval.week": "per week",
    "interval.month": "per month",
    "interval.year": "per year",
    "cancel.title": "Cancel subscription",
    "cancel.explain": (
        "Your {plan} subscription stays active until {date}, the period already paid. "
        "After that there are no more charges."
    ),
    "cancel.open_note": "Open installments remain due.",
    "cancel.confirm": "Confirm cancellation",
    "cancel.keep": "Keep subscription",
    "cancel.done": (
        "Cancellation scheduled. The subscription stays active until the end of the paid period."
    ),
    "cancel.scheduled": "Cancellation scheduled",
    "help.title": "Help and contact",
    "help.intro": "Questions about a charge? Contact {merchant}:",
    "help.legal_name": "Legal name",
    "help.document": "CNPJ",
    "help.email": "E-mail",
    "help.phone": "Phone",
    "help.address": "Address",
    "enter.title": "{merchant} payment portal",
    "enter.intro": "To sign in securely, press Continue.",
    "enter.continue": "Continue",
    "auth.title": "Bank security check (test mode)",
    "auth.intro": (
        "Test mode: this page mimics the confirmation your bank asks for (3-D Secure). "
        "No real bank is contacted."
    ),
    "auth.amount": "Payment of {amount} to {merchant}",
    "auth.approve": "Approve",
    "auth.fail": "Fail",
    "auth.done": "This payment is no longer waiting for a confirmation.",
    "login.title": "Sign in to {merchant}'s portal",
    "login.intro": "Enter the e-mail address you registered with. We will send you a sign-in link.",
    "login.email": "E-mail",
    "login.submit": "Send link",
    "login.sent_title": "Check your e-mail",
    "login.sent": (
        "If {email} is registered, you will shortly receive a sign-in link valid for 15 minutes."
    ),
    "login.limited_title": "Too many attempts",
    "login.limited": (
        "Too many link requests in a short time. Please wait a few minutes and try again."
    ),
    "logout.done": "You have signed out.",
    "error.title": "This page could not be opened",
    "error.link_expired": "This link has expired. Ask for a new sign-in link.",
    "error.link_used": "This link was already used. For your security, each link works once.",
    "error.link_invalid": "This link is not valid. Check that it was copied in full.",
    "error.session": "Your session has ended. Ask for a new sign-in link.",
    "error.not_found": "We could not find what you were looking for.",
    "error.csrf": "The form expired. Go back, reload the page and try again.",
    "error.invalid": "This could not be completed: {detail}",
    "error.request_link": "Ask for a new link",
    "common.back": "Back",
    "common.continue": "Continue",
    "common.brand_logo": "{merchant} logo",
}

CATALOG: dict[str, dict[str, str]] = {"pt-BR": _PT, "en": _EN}


def portal_locale(locale: str | None) -> str:
    return resolve_locale(locale)


def translator(locale: str) -> Callable[..., str]:
    words = CATALOG[portal_locale(locale)]

    def t(key: str, **values: object) -> str:
        text = words[key]
        return text.format(**values) if values else text

    return t


class Formatter:
    """Money and dates as the payer reads them, in the merchant's time zone."""

    def __init__(self, locale: str, tz: str) -> None:
        self.locale = portal_locale(locale)
        self._babel = self.locale.replace("-", "_")
        self._tz = ZoneInfo(tz)

    def money(self, amount: int, currency: str) -> str:
        return _money(amount, currency, self.locale)

    def date(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return _date(value.astimezone(self._tz).date(), self.locale, self._babel)


# Babel's formatting is the costliest step of rendering a page; the same few amounts and
# dates repeat on every page, so each string is built once per process.
@lru_cache(maxsize=8192)
def _money(amount: int, currency: str, locale: str) -> str:
    return format_money(amount, currency, locale)


@lru_cache(maxsize=4096)
def _date(value: date, locale: str, babel_locale: str) -> str:
    return format_date(
        value, "dd/MM/yyyy" if locale == "pt-BR" else "MMM d, yyyy", locale=babel_locale
    )
