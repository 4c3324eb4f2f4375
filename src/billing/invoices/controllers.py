"""Invoices (installments) API: list, show, void. Paying is the payments controller's."""

from __future__ import annotations

from litestar import Controller, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from billing.invoices import repository, service
from billing.invoices.schemas import InvoiceList, InvoiceOut
from billing.kit.clock import Clock
from billing.models import Merchant


class InvoiceController(Controller):
    path = "/v1/invoices"
    tags = ["invoices"]

    @get("/")
    async def list_invoices(
        self,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
        customer_id: str | None = None,
        subscription_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> InvoiceList:
        rows, more = await service.list_invoices(
            db_session,
            merchant.id,
            now=clock.now(),
            customer_id=customer_id,
            subscription_id=subscription_id,
            status=status,
            limit=limit,
            starting_after=starting_after,
        )
        return InvoiceList(rows, more)

    @get("/{invoice_id:str}")
    async def show(
        self, invoice_id: str, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> InvoiceOut:
        return await repository.invoice_view(db_session, merchant.id, invoice_id, now=clock.now())

    @post("/{invoice_id:str}/void", status_code=200)
    async def void(
        self, invoice_id: str, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> InvoiceOut:
        return await service.void_invoice(db_session, merchant.id, invoice_id, now=clock.now())
