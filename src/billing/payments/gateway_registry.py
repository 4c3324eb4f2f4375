"""Which gateway a merchant charges through, built once per process and cached.

A merchant's ``MerchantSettings.gateway`` (``{provider, secret_key, webhook_secret}``, the
secrets encrypted with the runtime's SecretBox) wins over the deployment default
(``BILLING_GATEWAY``, ``BILLING_STRIPE_API_BASE``). Gateway objects are cached in
``runtime.extra`` so that a Stripe account's rate limiter and HTTP pool are shared by every
charge of this process; the sandbox is one object on the database-backed ledger.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.gateways import Gateway, make_gateway
from billing.kit.errors import ProblemError
from billing.kit.secrets import SecretBox
from billing.models import MerchantSettings
from billing.runtime import ON_CLOSE

if TYPE_CHECKING:
    from billing.jobs import JobContext

PROVIDERS = ("sandbox", "stripe")
CACHE_KEY = "payments.gateways"
LATENCY_KEY = "sandbox_latency"  # seconds, set by the bench in runtime.extra
LATENCY_ENV = "BILLING_SANDBOX_LATENCY_MS"
# A platform key for deployments running BILLING_GATEWAY=stripe for every merchant.
STRIPE_KEY_ENV = "BILLING_STRIPE_SECRET_KEY"


class GatewayNotConfigured(ProblemError):
    status = 409
    code = "gateway_not_configured"


@dataclass(frozen=True)
class GatewayConfig:
    provider: str
    secret_key: str | None = None
    webhook_secret: str | None = None

    @property
    def fingerprint(self) -> str:
        """Identifies the account without keeping the key itself as a cache key."""
        digest = hashlib.sha256((self.secret_key or "").encode()).hexdigest()[:24]
        return f"{self.provider}:{digest}"


def config_from_stored(
    stored: dict[str, Any] | None, box: SecretBox, default_provider: str
) -> GatewayConfig:
    if not stored:
        secret = os.environ.get(STRIPE_KEY_ENV) if default_provider == "stripe" else None
        return GatewayConfig(default_provider, secret_key=secret or None)
    secret_key = stored.get("secret_key")
    webhook_secret = stored.get("webhook_secret")
    return GatewayConfig(
        provider=str(stored.get("provider", default_provider)),
        secret_key=box.decrypt(secret_key) if secret_key else None,
        webhook_secret=box.decrypt(webhook_secret) if webhook_secret else None,
    )


async def load_gateway_config(
    session: AsyncSession, ctx: JobContext, merchant_id: str
) -> GatewayConfig:
    """The merchant's gateway credentials, decrypted (for the adapters and for issue 6's
    webhook verification)."""
    stored = await session.scalar(
        select(MerchantSettings.gateway).where(MerchantSettings.merchant_id == merchant_id)
    )
    return config_from_stored(stored, secret_box(ctx), ctx.settings.gateway)


async def load_publishable_key(
    session: AsyncSession, ctx: JobContext, merchant_id: str
) -> str | None:
    """The Stripe publishable key the portal's card form uses: the merchant's own, or, for a
    merchant on the deployment's defaults, the one paired with BILLING_STRIPE_SECRET_KEY
    (a key of another account than the secret key's would make every SetupIntent fail)."""
    row = (
        await session.execute(
            select(MerchantSettings.gateway, MerchantSettings.gateway_publishable_key).where(
                MerchantSettings.merchant_id == merchant_id
            )
        )
    ).first()
    if row is None or not row.gateway:
        return ctx.settings.stripe_publishable_key if ctx.settings.gateway == "stripe" else None
    return row.gateway_publishable_key


def secret_box(ctx: JobContext) -> SecretBox:
    runtime = ctx.extra.get("runtime")
    if runtime is not None:
        box: SecretBox = runtime.secret_box
        return box
    return SecretBox(ctx.settings.secret_key)


def _cache(ctx: JobContext) -> dict[str, Any]:
    # The runtime outlives every JobContext built from it; cache there when we can, and
    # have the runtime close what the cache holds when it closes.
    holder = ctx.extra.get("runtime")
    store: dict[str, Any] = holder.extra if holder is not None else ctx.extra
    cache: dict[str, Any] | None = store.get(CACHE_KEY)
    if cache is None:
        cache = store[CACHE_KEY] = {}
        store.setdefault(ON_CLOSE, []).append(lambda: close_gateways(ctx))
    return cache


def sandbox_latency(ctx: JobContext) -> float:
    runtime = ctx.extra.get("runtime")
    configured = (runtime.extra if runtime is not None else ctx.extra).get(LATENCY_KEY)
    if configured is not None:
        return float(configured)
    return float(os.environ.get(LATENCY_ENV, "0") or 0) / 1000


def sandbox_gateway(ctx: JobContext) -> Any:
    """The one SandboxGateway of this process, on the shared database ledger."""
    from billing.gateways.sandbox import SandboxGateway
    from billing.payments.ledger import DbLedger

    cache = _cache(ctx)
    gateway = cache.get("sandbox")
    if gateway is None:
        engine = ctx.session_factory.kw["bind"]
        clock = ctx.clock
        gateway = SandboxGateway(DbLedger(engine), latency=sandbox_latency(ctx), clock=clock.now)
        cache["sandbox"] = gateway
    gateway.latency = sandbox_latency(ctx)
    return gateway


def gateway_for(ctx: JobContext, merchant_id: str, config: GatewayConfig) -> Gateway:
    if config.provider == "sandbox":
        gateway: Gateway = sandbox_gateway(ctx)
        return gateway
    if config.provider != "stripe":
        raise GatewayNotConfigured(f"Unknown gateway provider {config.provider!r}.")
    if not config.secret_key:
        raise GatewayNotConfigured(
            "This merchant uses Stripe but has no secret key: PUT /v1/settings/gateway."
        )
    cache = _cache(ctx)
    cached = cache.get(merchant_id)
    if cached is not None and cached[0] == config.fingerprint:
        return cached[1]
    gateway = make_gateway(
        "stripe", secret_key=config.secret_key, api_base=ctx.settings.stripe_api_base
    )
    # A replaced key's client is simply dropped; its pool closes with the process.
    cache[merchant_id] = (config.fingerprint, gateway)
    return gateway


async def merchant_gateway(
    session: AsyncSession, ctx: JobContext, merchant_id: str
) -> tuple[Gateway, GatewayConfig]:
    config = await load_gateway_config(session, ctx, merchant_id)
    return gateway_for(ctx, merchant_id, config), config


async def close_gateways(ctx: JobContext) -> None:
    for entry in list(_cache(ctx).values()):
        gateway = entry[1] if isinstance(entry, tuple) else entry
        await gateway.aclose()
        ledger = getattr(gateway, "ledger", None)
        if ledger is not None and hasattr(ledger, "aclose"):
            await ledger.aclose()
    _cache(ctx).clear()
