"""HTTP: Stripe's incoming webhooks, the operator's inbox list, and merchant endpoints."""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Controller, MediaType, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from billing.http import get_runtime
from billing.kit.clock import Clock
from billing.kit.errors import ProblemError
from billing.models import Merchant
from billing.webhooks import deliveries, endpoints, inbox, intake
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

log = structlog.get_logger("billing.webhooks")


class StripeWebhookController(Controller):
    path = "/webhooks/stripe"
    tags = ["gateway webhooks"]

    @post("/{merchant_id:str}", status_code=200)
    async def receive(self, merchant_id: str, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Verified, stored and committed before the 200 (invariant 4).

        No request transaction here (no ``db_session``): this is the hottest route, called
        by a gateway in bursts. Concurrent deliveries share one transaction through the
        process's ``InboxWriter`` (group commit), and each is answered only after that
        transaction has committed.
        """
        runtime = get_runtime(request.app.state)
        payload = await request.body()
        now = await intake.request_now(runtime)
        event = inbox.verify_stripe_event(
            payload=payload,
            headers=request.headers,
            secrets=await intake.stripe_secrets(runtime, merchant_id),
            now=now,
        )
        values = intake.inbox_values(
            merchant_id=merchant_id, provider="stripe", event=event, now=now
        )
        try:
            inbox_id, created = await intake.inbox_writer(runtime).store(values)
        except Exception as exc:
            log.error("gateway_event_not_stored", merchant_id=merchant_id, exc_info=exc)
            # Not stored, so not acknowledged: Stripe retries on any non-2xx.
            raise ProblemError(
                "The event could not be stored; retry later.",
                status=503,
                code="service_unavailable",
            ) from exc
        body = msgspec.json.encode(Received(received=True, duplicate=not created, id=inbox_id))
        return Response(body, media_type=MediaType.JSON)


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
