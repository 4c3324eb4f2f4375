"""Payments API: payment methods, paying an invoice, attempts, gateway settings, sandbox."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from billing.http import get_runtime
from billing.invoices.schemas import InvoiceOut
from billing.jobs import JobContext
from billing.kit.clock import Clock
from billing.kit.errors import NotFound
from billing.models import ApiKey, Merchant
from billing.payments import gateway_settings, invoice_payments, methods
from billing.payments.schemas import (
    GatewaySettingsIn,
    GatewaySettingsOut,
    PaymentList,
    PaymentMethodCreate,
    PaymentMethodList,
    PaymentMethodOut,
    PaymentOut,
    PayRequest,
)


def _jobs(state: State) -> JobContext:
    # The charge orchestration opens its own units of work, like a job does.
    return get_runtime(state).job_context


class PaymentMethodController(Controller):
    path = "/v1/customers/{customer_id:str}/payment_methods"
    tags = ["payment methods"]

    @post("/")
    async def attach(
        self,
        customer_id: str,
        data: PaymentMethodCreate,
        merchant: Merchant,
        db_session: AsyncSession,
        state: State,
        clock: Clock,
    ) -> PaymentMethodOut:
        method = await methods.attach_method(
            db_session,
            _jobs(state),
            merchant_id=merchant.id,
            customer_id=customer_id,
            token=data.token,
            set_default=data.set_default,
            now=clock.now(),
        )
        return PaymentMethodOut.of(method)

    @get("/")
    async def list_methods(
        self, customer_id: str, merchant: Merchant, db_session: AsyncSession
    ) -> PaymentMethodList:
        rows = await methods.list_methods(db_session, merchant.id, customer_id)
        return PaymentMethodList([PaymentMethodOut.of(m) for m in rows])

    @delete("/{method_id:str}", status_code=200)
    async def detach(
        self,
        customer_id: str,
        method_id: str,
        merchant: Merchant,
        db_session: AsyncSession,
        state: State,
        clock: Clock,
    ) -> PaymentMethodOut:
        method = await methods.detach_method(
            db_session,
            _jobs(state),
            merchant_id=merchant.id,
            customer_id=customer_id,
            method_id=method_id,
            now=clock.now(),
        )
        return PaymentMethodOut.of(method)


class InvoicePaymentController(Controller):
    path = "/v1/invoices/{invoice_id:str}/pay"
    tags = ["invoices"]

    @post("/", status_code=200)
    async def pay(
        self,
        invoice_id: str,
        merchant: Merchant,
        db_session: AsyncSession,
        state: State,
        data: PayRequest | None = None,
    ) -> InvoiceOut:
        return await invoice_payments.pay_invoice(
            db_session,
            _jobs(state),
            merchant_id=merchant.id,
            invoice_id=invoice_id,
            payment_method_id=data.payment_method_id if data else None,
        )


class PaymentController(Controller):
    path = "/v1/payments"
    tags = ["payments"]

    @get("/")
    async def list_payments(
        self,
        merchant: Merchant,
        db_session: AsyncSession,
        invoice_id: str | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> PaymentList:
        rows, more = await invoice_payments.list_payments(
            db_session,
            merchant.id,
            invoice_id=invoice_id,
            limit=limit,
            starting_after=starting_after,
        )
        return PaymentList([PaymentOut.of(a) for a in rows], more)


class GatewaySettingsController(Controller):
    path = "/v1/settings/gateway"
    tags = ["settings"]

    @get("/")
    async def show(
        self, merchant: Merchant, db_session: AsyncSession, state: State
    ) -> GatewaySettingsOut:
        return await gateway_settings.show_gateway_settings(db_session, _jobs(state), merchant.id)

    @put("/")
    async def update(
        self,
        data: GatewaySettingsIn,
        merchant: Merchant,
        db_session: AsyncSession,
        state: State,
        clock: Clock,
    ) -> GatewaySettingsOut:
        return await gateway_settings.update_gateway_settings(
            db_session, _jobs(state), merchant.id, data, now=clock.now()
        )


class PaymentTestHelperController(Controller):
    path = "/v1/test_helpers/invoices/{invoice_id:str}/simulate_payment"
    tags = ["sandbox"]
    include_in_schema = True

    @post("/", status_code=200)
    async def simulate_payment(
        self,
        invoice_id: str,
        auth: tuple[Merchant, ApiKey],
        db_session: AsyncSession,
        state: State,
        clock: Clock,
    ) -> InvoiceOut:
        merchant, key = auth
        if key.livemode:  # sandbox keys only
            raise NotFound("Test helpers only exist for sandbox (sk_test_) keys.")
        return await invoice_payments.simulate_payment(
            db_session,
            _jobs(state),
            merchant_id=merchant.id,
            invoice_id=invoice_id,
            now=clock.now(),
        )


PAYMENT_ROUTES = [
    PaymentMethodController,
    InvoicePaymentController,
    PaymentController,
    GatewaySettingsController,
    PaymentTestHelperController,
]
