"""Portal pages that change something: pay, payment methods, plan change, cancel.

Each handler parses the form, calls one portal service, and redirects (post/redirect/get)
or renders the next step.
"""

from __future__ import annotations

from litestar import get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from billing.http import get_runtime
from billing.kit.clock import Clock
from billing.portal import payments, plans, views
from billing.portal.sandbox_cards import SANDBOX_CARDS
from billing.portal.sessions import Payer
from billing.portal.web import (
    AnyRequest,
    Form,
    PortalController,
    card_page_csp,
    local_path,
    redirect,
    render,
)


class PortalActions(PortalController):
    # -- paying an installment -------------------------------------------------------

    @get("/invoices/{invoice_id:str}/pay")
    async def pay_form(
        self,
        request: AnyRequest,
        invoice_id: str,
        payer: Payer,
        db_session: AsyncSession,
        clock: Clock,
    ) -> Template:
        detail = await views.invoice_detail(db_session, payer, invoice_id, clock.now())
        return render(request, "pay.html.jinja", payer=payer, detail=detail)

    @post("/invoices/{invoice_id:str}/pay")
    async def pay(
        self,
        invoice_id: str,
        data: Form,
        payer: Payer,
        db_session: AsyncSession,
        clock: Clock,
        state: State,
    ) -> Redirect:
        # One radio group: a saved method's id, or "pix" / "boleto".
        picked = data.get("payment_method_id") or ""
        choice = picked if picked in ("pix", "boleto") else "saved"
        outcome = await payments.pay_invoice(
            db_session,
            get_runtime(state).job_context,
            payer,
            invoice_id,
            choice=choice,
            payment_method_id=picked if choice == "saved" else None,
            now=clock.now(),
        )
        suffix = f"?outcome={outcome.status}"
        if outcome.skipped:
            suffix += f"&skipped={outcome.skipped}"
        return redirect(f"/portal/invoices/{invoice_id}{suffix}")

    # -- the sandbox's 3-D Secure challenge --------------------------------------------

    @get("/sandbox/authenticate/{gateway_ref:str}")
    async def sandbox_authenticate_form(
        self, request: AnyRequest, gateway_ref: str, payer: Payer, db_session: AsyncSession
    ) -> Template:
        attempt = await views.attempt_by_gateway_ref(db_session, payer, gateway_ref)
        return render(request, "sandbox_authenticate.html.jinja", payer=payer, attempt=attempt)

    @post("/sandbox/authenticate/{gateway_ref:str}")
    async def sandbox_authenticate(
        self, gateway_ref: str, data: Form, payer: Payer, db_session: AsyncSession, state: State
    ) -> Redirect:
        invoice_id, status = await payments.confirm_sandbox_authentication(
            db_session,
            get_runtime(state).job_context,
            payer,
            gateway_ref,
            success=data.get("outcome") == "approve",
        )
        return redirect(f"/portal/invoices/{invoice_id}?outcome={status}")

    # -- payment methods -------------------------------------------------------------

    @post("/methods/new")
    async def add_card(
        self, data: Form, payer: Payer, db_session: AsyncSession, state: State
    ) -> Redirect:
        runtime = get_runtime(state)
        back = local_path(data.get("next"), "/portal/methods?notice=methods.added")
        url = await payments.start_add_card(db_session, runtime.job_context, payer, return_url=back)
        return redirect(url)

    @get("/methods/card/{setup_ref:str}")
    async def card_form(
        self,
        request: AnyRequest,
        setup_ref: str,
        payer: Payer,
        db_session: AsyncSession,
        state: State,
        return_url: str | None = None,
    ) -> Template:
        """The Elements page: Stripe.js confirms the SetupIntent in the payer's browser."""
        runtime = get_runtime(state)
        form = await payments.card_form(db_session, runtime.job_context, payer, setup_ref)
        return render(
            request,
            "card.html.jinja",
            payer=payer,
            form=form,
            stripe_js_url=runtime.settings.stripe_js_url,
            return_url=local_path(return_url, "/portal/methods?notice=methods.added"),
            csp=card_page_csp(runtime.settings),
        )

    @post("/methods/card")
    async def card_save(
        self, data: Form, payer: Payer, db_session: AsyncSession, clock: Clock, state: State
    ) -> Redirect:
        await payments.complete_card(
            db_session,
            get_runtime(state).job_context,
            payer,
            setup_ref=data.get("setup_intent", ""),
            now=clock.now(),
        )
        return redirect(local_path(data.get("return_url"), "/portal/methods?notice=methods.added"))

    @get("/sandbox/method_change/{setup_ref:str}")
    async def sandbox_card_form(
        self, request: AnyRequest, setup_ref: str, payer: Payer, return_url: str | None = None
    ) -> Template:
        return render(
            request,
            "sandbox_card.html.jinja",
            payer=payer,
            setup_ref=setup_ref,
            cards=SANDBOX_CARDS,
            return_url=local_path(return_url, "/portal/methods?notice=methods.added"),
        )

    @post("/sandbox/method_change/{setup_ref:str}")
    async def sandbox_card_save(
        self,
        setup_ref: str,
        data: Form,
        payer: Payer,
        db_session: AsyncSession,
        clock: Clock,
        state: State,
    ) -> Redirect:
        await payments.complete_sandbox_card(
            db_session,
            get_runtime(state).job_context,
            payer,
            token=data.get("token", ""),
            now=clock.now(),
        )
        return redirect(local_path(data.get("return_url"), "/portal/methods"))

    @post("/methods/{method_id:str}/default")
    async def make_default(
        self, method_id: str, payer: Payer, db_session: AsyncSession
    ) -> Redirect:
        await payments.set_default(db_session, payer, method_id)
        return redirect("/portal/methods?notice=methods.default_set")

    @post("/methods/{method_id:str}/remove")
    async def remove(
        self, method_id: str, payer: Payer, db_session: AsyncSession, clock: Clock, state: State
    ) -> Redirect:
        await payments.remove_method(
            db_session, get_runtime(state).job_context, payer, method_id, now=clock.now()
        )
        return redirect("/portal/methods?notice=methods.removed")

    # -- plan change and cancellation ------------------------------------------------

    @get("/subscriptions/{subscription_id:str}/change_plan")
    async def plan_form(
        self, request: AnyRequest, subscription_id: str, payer: Payer, db_session: AsyncSession
    ) -> Template:
        sub, choices = await plans.plan_choices(db_session, payer, subscription_id)
        return render(request, "change_plan.html.jinja", payer=payer, sub=sub, plans=choices)

    @get("/subscriptions/{subscription_id:str}/change_plan/preview")
    async def plan_preview(
        self,
        request: AnyRequest,
        subscription_id: str,
        plan_id: str,
        payer: Payer,
        db_session: AsyncSession,
        clock: Clock,
    ) -> Template:
        preview = await plans.preview_change(
            db_session, payer, subscription_id, plan_id, now=clock.now()
        )
        return render(request, "change_plan_preview.html.jinja", payer=payer, preview=preview)

    @post("/subscriptions/{subscription_id:str}/change_plan")
    async def plan_confirm(
        self,
        subscription_id: str,
        data: Form,
        payer: Payer,
        db_session: AsyncSession,
        clock: Clock,
    ) -> Redirect:
        await plans.confirm_change(
            db_session, payer, subscription_id, data.get("plan_id", ""), now=clock.now()
        )
        return redirect("/portal/?notice=plan.changed")

    @get("/subscriptions/{subscription_id:str}/cancel")
    async def cancel_form(
        self, request: AnyRequest, subscription_id: str, payer: Payer, db_session: AsyncSession
    ) -> Template:
        sub = await views.get_subscription(db_session, payer, subscription_id)
        return render(request, "cancel.html.jinja", payer=payer, sub=sub)

    @post("/subscriptions/{subscription_id:str}/cancel")
    async def cancel(
        self, subscription_id: str, payer: Payer, db_session: AsyncSession, clock: Clock
    ) -> Redirect:
        await plans.cancel_at_period_end(db_session, payer, subscription_id, now=clock.now())
        return redirect("/portal/?notice=cancel.done")
