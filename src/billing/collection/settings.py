"""Reading and writing a merchant's collection policies (one JSON column per section).

PUT replaces the section; fields left out take their defaults. Everything is validated
before anything is written (invariant 8): a 422 lists every problem in ``errors``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.collection.policy import (
    late_fee_policy,
    late_fees_json,
    negotiation_policy,
    ruler_policy,
    validate_late_fees,
    validate_negotiation,
    validate_ruler,
)
from billing.dunning.policy import DunningPolicy, dunning_policy, validate_dunning
from billing.kit.errors import ProblemError
from billing.kit.secrets import SecretBox
from billing.models import Merchant, MerchantSettings

SECTIONS = ("dunning", "collection", "late_fees", "negotiation", "channels")


def invalid(errors: list[dict[str, str]]) -> ProblemError:
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ProblemError(detail, status=422, code="validation_error", errors=errors)


async def _row(session: AsyncSession, merchant_id: str, *, create: bool) -> MerchantSettings | None:
    row = await session.get(MerchantSettings, merchant_id)
    if row is None and create:
        row = MerchantSettings(merchant_id=merchant_id)
        session.add(row)
        await session.flush()
    return row


async def stored_section(session: AsyncSession, merchant_id: str, section: str) -> Any:
    assert section in SECTIONS
    column = getattr(MerchantSettings, section)
    return await session.scalar(select(column).where(MerchantSettings.merchant_id == merchant_id))


async def _write(session: AsyncSession, merchant_id: str, section: str, value: Any) -> None:
    row = await _row(session, merchant_id, create=True)
    assert row is not None
    setattr(row, section, value)
    await session.flush()


# --- dunning ---


async def get_dunning(session: AsyncSession, merchant_id: str) -> dict[str, Any]:
    return dunning_policy(await stored_section(session, merchant_id, "dunning")).to_json()


async def put_dunning(
    session: AsyncSession, merchant_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    default = DunningPolicy()
    hours = tuple(data.get("retry_schedule_hours") or default.retry_schedule_hours)
    policy = DunningPolicy(
        retry_schedule_hours=hours,
        max_attempts=data.get("max_attempts", len(hours) + 1),
        final_action=data.get("final_action", default.final_action),
        jitter_minutes=data.get("jitter_minutes", default.jitter_minutes),
        payday_shift=data.get("payday_shift", default.payday_shift),
    )
    errors = validate_dunning(policy)
    if "retry_schedule_hours" in data and not data["retry_schedule_hours"]:
        errors.insert(0, {"field": "retry_schedule_hours", "message": "needs at least one entry"})
    if errors:
        raise invalid(errors)
    await _write(session, merchant_id, "dunning", policy.to_json())
    return policy.to_json()


# --- collection ruler ---


async def get_collection(session: AsyncSession, merchant_id: str) -> dict[str, Any]:
    return ruler_policy(await stored_section(session, merchant_id, "collection")).to_json()


async def put_collection(
    session: AsyncSession, merchant_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    if "steps" not in data:
        data = {**data, "steps": ruler_policy(None).to_json()["steps"]}
    policy, errors = validate_ruler(data)
    if errors or policy is None:
        raise invalid(errors)
    await _write(session, merchant_id, "collection", policy.to_json())
    return policy.to_json()


# --- late fees ---


async def get_late_fees(session: AsyncSession, merchant_id: str) -> dict[str, Any]:
    return late_fees_json(late_fee_policy(await stored_section(session, merchant_id, "late_fees")))


async def put_late_fees(
    session: AsyncSession, merchant: Merchant, data: dict[str, Any]
) -> dict[str, Any]:
    policy, errors = validate_late_fees(data, merchant.currency)
    if errors or policy is None:
        raise invalid(errors)
    stored = late_fees_json(policy)
    await _write(session, merchant.id, "late_fees", stored)
    return stored


# --- negotiation (stored for the renegotiation issue) ---


async def get_negotiation(session: AsyncSession, merchant_id: str) -> dict[str, Any]:
    stored = await stored_section(session, merchant_id, "negotiation")
    return negotiation_policy(stored).to_json()


async def put_negotiation(
    session: AsyncSession, merchant_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    policy, errors = validate_negotiation(data)
    if errors or policy is None:
        raise invalid(errors)
    await _write(session, merchant_id, "negotiation", policy.to_json())
    return policy.to_json()


# --- channels (SMS / WhatsApp HTTP providers) ---


def channels_view(stored: dict[str, Any] | None) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for name in ("sms", "whatsapp"):
        provider = (stored or {}).get(name)
        if provider:
            view[name] = {"url": provider["url"], "token_set": bool(provider.get("token"))}
    return view


async def get_channels(session: AsyncSession, merchant_id: str) -> dict[str, Any]:
    return channels_view(await stored_section(session, merchant_id, "channels"))


async def put_channels(
    session: AsyncSession, merchant_id: str, data: dict[str, Any], box: SecretBox
) -> dict[str, Any]:
    current = await stored_section(session, merchant_id, "channels") or {}
    stored: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for name in ("sms", "whatsapp"):
        given = data.get(name)
        if not given:
            continue
        url = str(given.get("url") or "")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.append({"field": f"{name}.url", "message": "an http(s) URL"})
            continue
        token = given.get("token")
        if token:
            stored[name] = {"url": url, "token": box.encrypt(str(token))}
        elif (current.get(name) or {}).get("token"):
            stored[name] = {"url": url, "token": current[name]["token"]}
        else:
            errors.append({"field": f"{name}.token", "message": "required for a new provider"})
    if errors:
        raise invalid(errors)
    await _write(session, merchant_id, "channels", stored)
    return channels_view(stored)
