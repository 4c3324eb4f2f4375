"""``/v1/agreements``: make (e.g. after a phone call), list, show, cancel; the options."""

from __future__ import annotations

from litestar import Controller, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.clock import Clock
from billing.models import Merchant
from billing.negotiation import service
from billing.negotiation.schemas import AgreementIn, AgreementList, AgreementOut, OptionsOut


async def _view(session: AsyncSession, merchant_id: str, agreement_id: str) -> AgreementOut:
    agreement = await service.get_agreement(session, merchant_id, agreement_id)
    links = await service.agreement_invoices(session, [agreement.id])
    return AgreementOut.build(agreement, links[agreement.id])


class AgreementController(Controller):
    path = "/v1/agreements"
    tags = ["agreements"]

    @post("/", status_code=201)
    async def create(
        self, merchant: Merchant, db_session: AsyncSession, clock: Clock, data: AgreementIn
    ) -> AgreementOut:
        agreement = await service.create_agreement(
            db_session,
            merchant,
            data.customer_id,
            installments=data.installments,
            payment_method=data.payment_method,
            invoice_ids=data.invoice_ids,
            note=data.note,
            source="api",
            now=clock.now(),
        )
        return await _view(db_session, merchant.id, agreement.id)

    @get("/")
    async def list_agreements(
        self,
        merchant: Merchant,
        db_session: AsyncSession,
        customer_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> AgreementList:
        rows, more = await service.list_agreements(
            db_session, merchant.id, customer_id=customer_id, status=status, limit=limit,
            starting_after=starting_after,
        )  # fmt: skip
        links = await service.agreement_invoices(db_session, [a.id for a in rows])
        return AgreementList([AgreementOut.build(a, links[a.id]) for a in rows], more)

    @get("/options")
    async def options(
        self, merchant: Merchant, db_session: AsyncSession, clock: Clock, customer_id: str
    ) -> OptionsOut:
        policy, items, quotes = await service.negotiation_options(
            db_session, merchant, customer_id, now=clock.now()
        )
        return OptionsOut.of(customer_id, merchant.currency, policy.enabled, items, quotes)

    @get("/{agreement_id:str}")
    async def show(
        self, agreement_id: str, merchant: Merchant, db_session: AsyncSession
    ) -> AgreementOut:
        return await _view(db_session, merchant.id, agreement_id)

    @post("/{agreement_id:str}/cancel", status_code=200)
    async def cancel(
        self, agreement_id: str, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> AgreementOut:
        await service.cancel_agreement(db_session, merchant.id, agreement_id, now=clock.now())
        return await _view(db_session, merchant.id, agreement_id)
