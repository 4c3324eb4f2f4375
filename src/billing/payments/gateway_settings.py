"""GET|PUT /v1/settings/gateway: the merchant's gateway and its encrypted credentials."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing.events.service import record_event
from billing.jobs import JobContext
from billing.kit.errors import ValidationFailed
from billing.models import MerchantSettings
from billing.payments.gateway_registry import (
    PROVIDERS,
    load_gateway_config,
    load_publishable_key,
    secret_box,
)
from billing.payments.schemas import GatewaySettingsIn, GatewaySettingsOut

_PUBLISHABLE_KEY = re.compile(r"pk_(test|live)_[A-Za-z0-9]{8,240}")


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
        publishable_key=await load_publishable_key(session, ctx, merchant_id),
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
    publishable = row.gateway_publishable_key
    # Omitted secrets keep the stored ones (write-only fields cannot be read back to resend).
    if stored.get("provider") != data.provider:
        stored, publishable = {}, None
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
    if data.publishable_key is not None:
        publishable = _checked_publishable_key(data.provider, data.publishable_key)
    if publishable:
        _same_mode(publishable, box.decrypt(stored["secret_key"]))
    row.gateway = stored
    row.gateway_publishable_key = publishable
    await session.flush()
    await record_event(
        session, merchant_id, "settings.gateway.updated", {"provider": data.provider}, now=now
    )
    return await show_gateway_settings(session, ctx, merchant_id)


def _checked_publishable_key(provider: str, key: str) -> str | None:
    """An empty key clears it; otherwise it must look like a Stripe publishable key."""
    if not key:
        return None
    if provider != "stripe":
        raise ValidationFailed("publishable_key", "is only used by the stripe provider")
    if not _PUBLISHABLE_KEY.fullmatch(key):
        raise ValidationFailed(
            "publishable_key", "must be a Stripe publishable key (pk_test_… or pk_live_…)"
        )
    return key


def _same_mode(publishable_key: str, secret_key: str) -> None:
    # A test-mode form cannot confirm a live-mode SetupIntent, nor the reverse.
    mode = secret_key[3:7]
    if secret_key[7:8] == "_" and mode in ("test", "live") and publishable_key[3:7] != mode:
        raise ValidationFailed("publishable_key", f"must be a {mode} key, like the secret key")
