"""Customers API (payment methods are the payments controller's)."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from billing.customers import service
from billing.customers.schemas import CustomerCreate, CustomerList, CustomerOut, CustomerPatch
from billing.kit.clock import Clock
from billing.models import Merchant


class CustomerController(Controller):
    path = "/v1/customers"
    tags = ["customers"]

    @post("/")
    async def create(
        self, data: CustomerCreate, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> CustomerOut:
        customer = await service.create_customer(db_session, merchant.id, data, now=clock.now())
        return CustomerOut.of(customer)

    @get("/")
    async def list_customers(
        self,
        merchant: Merchant,
        db_session: AsyncSession,
        email: str | None = None,
        external_id: str | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> CustomerList:
        rows, more = await service.list_customers(
            db_session,
            merchant.id,
            email=email,
            external_id=external_id,
            limit=limit,
            starting_after=starting_after,
        )
        return CustomerList([CustomerOut.of(c) for c in rows], more)

    @get("/{customer_id:str}")
    async def show(
        self, customer_id: str, merchant: Merchant, db_session: AsyncSession
    ) -> CustomerOut:
        return CustomerOut.of(await service.get_customer(db_session, merchant.id, customer_id))

    @patch("/{customer_id:str}")
    async def update(
        self,
        customer_id: str,
        data: CustomerPatch,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
    ) -> CustomerOut:
        customer = await service.update_customer(
            db_session, merchant.id, customer_id, data.changes(), now=clock.now()
        )
        return CustomerOut.of(customer)
