"""GET|PUT /v1/settings/gateway: the merchant's gateway and its encrypted credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.jobs import JobContext
from billing.kit.errors import ValidationFailed
from billing.models import MerchantSettings
from billing.payments.gateway_registry import PROVIDERS, load_gateway_config, secret_box
from billing.payments.schemas import GatewaySettingsIn, GatewaySettingsOut


async def show_gateway_settings(
    session: AsyncSession, ctx: JobContext, merchant_id: str
) -> GatewaySettingsOut:
    config = await load_gateway_config(session, ctx, merchant_id)
    key = config.secret_key
    return GatewaySettingsOut(
        provider=config.provider,
        secret_key_set=bool(key),
        secret_key_last4=key[-4:] if key else None,
        webhook_secret_set=bool(config.webhook_secret),
    )


async def update_gateway_settings(
    session: AsyncSession,
    ctx: JobContext,
    merchant_id: str,
    data: GatewaySettingsIn,
    *,
    now: datetime,
) -> GatewaySettingsOut:
    if data.provider not in PROVIDERS:
        raise ValidationFailed("provider", f"must be one of {', '.join(PROVIDERS)}")
    row = await session.get(MerchantSettings, merchant_id, with_for_update=True)
    if row is None:
        row = MerchantSettings(merchant_id=merchant_id)
        session.add(row)
    stored = dict(row.gateway or {})
    # Omitted secrets keep the stored ones (write-only fields cannot be read back to resend).
    if stored.get("provider") != data.provider:
        stored = {}
    box = secret_box(ctx)
    stored["provider"] = data.provider
    if data.secret_key is not None:
        if data.provider == "stripe" and not data.secret_key.startswith(("sk_", "rk_")):
            raise ValidationFailed("secret_key", "must be a Stripe secret key (sk_… or rk_…)")
        stored["secret_key"] = box.encrypt(data.secret_key)
    if data.webhook_secret is not None:
        stored["webhook_secret"] = box.encrypt(data.webhook_secret)
    if data.provider == "stripe" and not stored.get("secret_key"):
        raise ValidationFailed("secret_key", "is required for the stripe provider")
    row.gateway = stored
    await session.flush()
    await record_event(
        session, merchant_id, "settings.gateway.updated", {"provider": data.provider}, now=now
    )
    return await show_gateway_settings(session, ctx, merchant_id)
