"""HTTP: Stripe's incoming webhooks, the operator's inbox list, and merchant endpoints."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from billing.http import get_runtime
from billing.kit.clock import Clock
from billing.models import Merchant
from billing.webhooks import deliveries, endpoints, inbox
from billing.webhooks.schemas import (
    DeliveryList,
    DeliveryOut,
    EndpointCreate,
    EndpointList,
    EndpointOut,
    EndpointUpdate,
    GatewayEventList,
    GatewayEventOut,
    Received,
)

SECRETS_CACHE = "webhooks.stripe_secrets"


class StripeWebhookController(Controller):
    path = "/webhooks/stripe"
    tags = ["gateway webhooks"]

    @post("/{merchant_id:str}", status_code=200)
    async def receive(
        self,
        merchant_id: str,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        clock: Clock,
    ) -> Received:
        """Verified and stored before the 200 (the request's transaction commits first)."""
        runtime = get_runtime(state)
        inbox_id, created = await inbox.receive_stripe_event(
            db_session,
            merchant_id=merchant_id,
            payload=await request.body(),
            headers=request.headers,
            box=runtime.secret_box,
            settings=runtime.settings,
            now=clock.now(),
            secrets_cache=runtime.extra.setdefault(SECRETS_CACHE, {}),
        )
        return Received(received=True, duplicate=not created, id=inbox_id)


class GatewayEventController(Controller):
    path = "/v1/webhook_events"
    tags = ["gateway webhooks"]

    @get("/")
    async def list_events(
        self,
        merchant: Merchant,
        db_session: AsyncSession,
        status: str | None = None,
        type: str | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> GatewayEventList:
        rows, more = await inbox.list_gateway_events(
            db_session,
            merchant.id,
            status=status,
            type=type,
            limit=limit,
            starting_after=starting_after,
        )
        return GatewayEventList([GatewayEventOut.of(r) for r in rows], more)

    @get("/{inbox_id:str}")
    async def show(
        self, inbox_id: str, merchant: Merchant, db_session: AsyncSession
    ) -> GatewayEventOut:
        row = await inbox.get_gateway_event(db_session, merchant.id, inbox_id)
        return GatewayEventOut.of(row, with_payload=True)

    @post("/{inbox_id:str}/retry", status_code=200)
    async def retry(
        self, inbox_id: str, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> GatewayEventOut:
        row = await inbox.retry_gateway_event(db_session, merchant.id, inbox_id, now=clock.now())
        return GatewayEventOut.of(row)


class WebhookEndpointController(Controller):
    path = "/v1/webhook_endpoints"
    tags = ["webhook endpoints"]

    @post("/", status_code=201)
    async def create(
        self,
        data: EndpointCreate,
        merchant: Merchant,
        db_session: AsyncSession,
        state: State,
        clock: Clock,
    ) -> EndpointOut:
        endpoint, secret = await endpoints.create_endpoint(
            db_session,
            merchant.id,
            url=data.url,
            events=data.events,
            description=data.description,
            box=get_runtime(state).secret_box,
            now=clock.now(),
        )
        return EndpointOut.of(endpoint, secret)

    @get("/")
    async def list_endpoints(
        self,
        merchant: Merchant,
        db_session: AsyncSession,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> EndpointList:
        rows, more = await endpoints.list_endpoints(
            db_session, merchant.id, limit=limit, starting_after=starting_after
        )
        return EndpointList([EndpointOut.of(e) for e in rows], more)

    @get("/{endpoint_id:str}")
    async def show(
        self, endpoint_id: str, merchant: Merchant, db_session: AsyncSession
    ) -> EndpointOut:
        return EndpointOut.of(await endpoints.get_endpoint(db_session, merchant.id, endpoint_id))

    @patch("/{endpoint_id:str}")
    async def update(
        self,
        endpoint_id: str,
        data: EndpointUpdate,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
    ) -> EndpointOut:
        endpoint = await endpoints.update_endpoint(
            db_session,
            merchant.id,
            endpoint_id,
            url=data.url,
            events=data.events,
            enabled=data.enabled,
            description=data.description,
            now=clock.now(),
        )
        return EndpointOut.of(endpoint)

    @post("/{endpoint_id:str}/rotate_secret", status_code=200)
    async def rotate_secret(
        self,
        endpoint_id: str,
        merchant: Merchant,
        db_session: AsyncSession,
        state: State,
        clock: Clock,
    ) -> EndpointOut:
        endpoint, secret = await endpoints.rotate_secret(
            db_session,
            merchant.id,
            endpoint_id,
            box=get_runtime(state).secret_box,
            now=clock.now(),
        )
        return EndpointOut.of(endpoint, secret)

    @delete("/{endpoint_id:str}", status_code=200)
    async def remove(
        self, endpoint_id: str, merchant: Merchant, db_session: AsyncSession, clock: Clock
    ) -> EndpointOut:
        endpoint = await endpoints.delete_endpoint(
            db_session, merchant.id, endpoint_id, now=clock.now()
        )
        return EndpointOut.of(endpoint)

    @get("/{endpoint_id:str}/deliveries")
    async def list_deliveries(
        self,
        endpoint_id: str,
        merchant: Merchant,
        db_session: AsyncSession,
        status: str | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> DeliveryList:
        rows, more = await deliveries.list_deliveries(
            db_session,
            merchant.id,
            endpoint_id,
            status=status,
            limit=limit,
            starting_after=starting_after,
        )
        return DeliveryList([DeliveryOut.of(d) for d in rows], more)

    @post("/{endpoint_id:str}/deliveries/{delivery_id:str}/redeliver", status_code=200)
    async def redeliver(
        self,
        endpoint_id: str,
        delivery_id: str,
        merchant: Merchant,
        db_session: AsyncSession,
        clock: Clock,
    ) -> DeliveryOut:
        delivery = await deliveries.redeliver(
            db_session, merchant.id, endpoint_id, delivery_id, now=clock.now()
        )
        return DeliveryOut.of(delivery)
