"""`billing demo` (a merchant with plans, payers and months of history) and `billing bill`."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta
from typing import Any, Literal

from billing.config import Settings, get_settings
from billing.db import unit_of_work
from billing.jobs import REGISTRY, JobContext, periodic_sweeps
from billing.kit.clock import FixedClock
from billing.queue import InlineDispatcher
from billing.runtime import Runtime, build_runtime, session_factory_for

HISTORY_MONTHS = 5
PAYERS = [
    ("Ana Souza", "ana@example.com", "pm_card_visa"),
    ("Bruno Lima", "bruno@example.com", "pm_card_visa"),
    ("Carla Dias", "carla@example.com", "pm_card_chargeDeclinedInsufficientFunds"),
    ("Diego Rocha", "diego@example.com", "pm_card_insufficientFundsTimes2"),
    ("Elisa Prado", "elisa@example.com", "pm_card_chargeDeclinedStolenCard"),
    ("Fábio Nunes", "fabio@example.com", None),  # boleto/Pix: send_invoice
    ("Gabi Costa", "gabi@example.com", None),
    ("Helena Reis", "helena@example.com", "pm_card_visa"),
]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ensure_schema(settings: Settings) -> None:
    if settings.is_sqlite:
        from billing.migrate import upgrade

        upgrade(settings.database_url)


async def _drain(ctx: JobContext, dispatcher: InlineDispatcher) -> None:
    while dispatcher.pending:
        call = dispatcher.pending.pop(0)
        func = REGISTRY.get(call.name)
        if func is None:
            continue
        try:
            await func(ctx, **call.kwargs)
        except Exception as exc:  # a demo shows declines; it does not stop on them
            _say(f"  ({call.name}: {exc})")


async def _seed(runtime: Runtime) -> dict[str, Any]:
    from billing.customers.schemas import CustomerCreate
    from billing.customers.service import create_customer
    from billing.merchants.service import create_merchant
    from billing.plans.schemas import PlanCreate
    from billing.plans.service import create_plan
    from billing.subscriptions.renewal import run_billing
    from billing.subscriptions.schemas import SubscriptionCreate
    from billing.subscriptions.signup import subscribe

    async with runtime.session_factory() as session:
        today = await runtime.clock.sync(session)
    # History is made by running the real code on a clock that starts months ago.
    clock = FixedClock(today - timedelta(days=30 * HISTORY_MONTHS + 3))
    dispatcher = InlineDispatcher()
    ctx = JobContext(
        settings=runtime.settings,
        session_factory=session_factory_for(runtime.engine, dispatcher),
        clock=clock,
        dispatcher=dispatcher,
        extra={"runtime": runtime, **runtime.extra},
    )
    dispatcher.ctx = ctx
    factory = ctx.session_factory
    async with unit_of_work(factory) as session:
        merchant, key = await create_merchant(session, name="Academia Forte", now=clock.now())
        plans = [
            await create_plan(session, merchant.id, body, now=clock.now())
            for body in (
                PlanCreate("Mensal", 9990, "BRL", "month"),
                PlanCreate("Anual 12x", 8990, "BRL", "month", billing_cycles=12),
                PlanCreate("Trimestral", 26990, "BRL", "month", interval_count=3, trial_days=7),
            )
        ]
    _say(f"merchant {merchant.id}: {len(plans)} plans, {len(PAYERS)} payers")
    has_methods = "payments.charge_invoice" in REGISTRY
    for i, (name, email, token) in enumerate(PAYERS):
        async with unit_of_work(factory) as session:
            customer = await create_customer(
                session, merchant.id, CustomerCreate(email=email, name=name), now=clock.now()
            )
            method_id = None
            if token and has_methods:
                from billing.payments.methods import attach_method

                method = await attach_method(
                    session, ctx, merchant_id=merchant.id, customer_id=customer.id,
                    token=token, set_default=True, now=clock.now(),
                )  # fmt: skip
                method_id = method.id
        collection: Literal["charge_automatically", "send_invoice"] = (
            "charge_automatically" if method_id else "send_invoice"
        )
        await subscribe(
            ctx,
            merchant.id,
            SubscriptionCreate(
                customer_id=customer.id,
                plan_id=plans[i % len(plans)].id,
                payment_method_id=method_id,
                collection_method=collection,
            ),
        )
        await _drain(ctx, dispatcher)
        _say(f"  {name}: {collection}")
        clock.set(clock.now() + timedelta(hours=5))
    invoices = 0
    while clock.now() < today:
        clock.set(min(today, clock.now() + timedelta(days=1)))
        result = await run_billing(factory, clock)
        invoices += result.invoices_created
        for sweep in periodic_sweeps():  # retries, ruler, webhooks: each at its day
            if sweep.name != "billing.run":
                try:
                    await sweep.func(ctx)
                except Exception as exc:
                    _say(f"  ({sweep.name}: {exc})")
        await _drain(ctx, dispatcher)
    _say(f"history: {invoices} renewals over {HISTORY_MONTHS} months")
    return {
        "merchant_id": merchant.id,
        "api_key": key,
        "portal_token": await _portal_link(runtime, merchant.id, today),
    }


async def _portal_link(runtime: Runtime, merchant_id: str, now: datetime) -> str:
    """A portal session for the payer who owes the most overdue, so the link shows dunning."""
    from sqlalchemy import select

    from billing.models import Invoice
    from billing.portal.sessions import create_session

    async with unit_of_work(runtime.session_factory) as session:
        customer_id = await session.scalar(
            select(Invoice.customer_id)
            .where(Invoice.merchant_id == merchant_id, Invoice.status == "open")
            .order_by(Invoice.due_at)
            .limit(1)
        )
        if customer_id is None:
            customer_id = await session.scalar(
                select(Invoice.customer_id).where(Invoice.merchant_id == merchant_id).limit(1)
            )
        # Long enough to read the output and open it: this is a demo, not a real payer.
        _, raw = await create_session(
            session, merchant_id, customer_id=str(customer_id), now=now, ttl=timedelta(hours=12)
        )
    return raw


def run_demo(host: str = "127.0.0.1", port: int = 8000, serve: bool = True) -> int:
    settings = get_settings()
    _ensure_schema(settings)

    async def seed() -> dict[str, Any]:
        runtime = await build_runtime(settings, start_queue=False)
        try:
            return await _seed(runtime)
        finally:
            await runtime.close()

    _say("seeding the demo merchant…")
    made = asyncio.run(seed())
    base = f"http://{host}:{port}"
    print(f"API:        {base}/v1   (OpenAPI: {base}/schema)")
    print(f"API key:    {made['api_key']}")
    print(f"Merchant:   {made['merchant_id']}")
    print(f"Portal:     {base}/portal/s/{made['portal_token']}")
    print("            (single use: a payer with an overdue installment)")
    print(f"Console:    {base}/console/login   (log in with the API key)")
    print(f"Try:        curl -H 'Authorization: Bearer {made['api_key']}' {base}/v1/invoices")
    sys.stdout.flush()
    if not serve:
        return 0
    import uvicorn

    from billing.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    return 0


def run_billing_now() -> int:
    """Renew everything due now, once, and say how much was billed."""
    from billing.subscriptions.renewal import run_billing

    settings = get_settings()
    _ensure_schema(settings)

    async def run() -> int:
        runtime = await build_runtime(settings, start_queue=False)
        try:
            started = datetime.now().astimezone()
            result = await run_billing(runtime.session_factory, runtime.clock)
            _say(f"billing run took {(datetime.now().astimezone() - started).total_seconds():.2f}s")
            return result.invoices_created
        finally:
            await runtime.close()

    created = asyncio.run(run())
    print(f"{created} invoices created")
    return 0
