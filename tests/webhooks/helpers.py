"""Rows and signed Stripe events for the webhook tests."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from billing.db import unit_of_work
from billing.gateways.stripe_mapping import ATTEMPT_KEY
from billing.gateways.webhook import sign_header
from billing.kit.ids import new_id
from billing.models import Customer, Invoice, MerchantSettings, PaymentAttempt
from billing.runtime import Runtime

WEBHOOK_SECRET = "whsec_test_merchant_secret"


async def configure_stripe(
    runtime: Runtime,
    merchant_id: str,
    *,
    webhook_secret: str = WEBHOOK_SECRET,
    secret_key: str = "sk_test_webhooks",
    provider: str = "sandbox",
) -> None:
    """What PUT /v1/settings/gateway stores: the provider and both secrets, encrypted.

    Crafted-event tests keep the sandbox provider: sweeps of other tests sharing the
    database may ask this merchant's gateway about leftover attempts, and a Stripe key
    without a localstripe base URL would reach the real Stripe.
    """
    box = runtime.secret_box
    async with unit_of_work(runtime.session_factory) as session:
        row = await session.get(MerchantSettings, merchant_id)
        if row is None:
            row = MerchantSettings(merchant_id=merchant_id)
            session.add(row)
        row.gateway = {
            "provider": provider,
            "secret_key": box.encrypt(secret_key),
            "webhook_secret": box.encrypt(webhook_secret),
        }


@dataclass
class OpenInstallment:
    customer_id: str
    invoice_id: str
    attempt_id: str
    key: str
    amount: int = 4990


async def open_installment(
    runtime: Runtime,
    merchant_id: str,
    *,
    gateway_customer: str | None = None,
    details: dict[str, Any] | None = None,
) -> OpenInstallment:
    """A customer, an open invoice and its attempt left ``processing`` at the gateway."""
    now = runtime.clock.now()
    customer_id, invoice_id, attempt_id = new_id("cus"), new_id("inv"), new_id("pay")
    key = f"billing:charge:{invoice_id}:1"
    async with unit_of_work(runtime.session_factory) as session:
        session.add(
            Customer(
                id=customer_id,
                merchant_id=merchant_id,
                email=f"{uuid.uuid4().hex[:8]}@example.com",
                name="Maria Silva",
                locale="pt-BR",
                metadata_={},
                gateway_customer_ref=gateway_customer,
                created_at=now,
            )
        )
        await session.flush()
        session.add(
            Invoice(
                id=invoice_id,
                merchant_id=merchant_id,
                customer_id=customer_id,
                number=int(time.time_ns() % 1_000_000_000),
                status="open",
                currency="BRL",
                subtotal=4990,
                total=4990,
                due_at=now,
                created_at=now,
            )
        )
        await session.flush()
        session.add(
            PaymentAttempt(
                id=attempt_id,
                merchant_id=merchant_id,
                invoice_id=invoice_id,
                customer_id=customer_id,
                attempt_number=1,
                initiated_by="automatic",
                amount=4990,
                currency="BRL",
                status="processing",
                idempotency_key=key,
                details=details,
                attempted_at=now,
            )
        )
    return OpenInstallment(customer_id, invoice_id, attempt_id, key)


def intent_event(
    event_type: str,
    *,
    key: str,
    status: str,
    intent_id: str | None = None,
    event_id: str | None = None,
    created: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Stripe event carrying a PaymentIntent snapshot with our attempt key in metadata."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "livemode": False,
        "data": {
            "object": {
                "id": intent_id or f"pi_{uuid.uuid4().hex[:24]}",
                "object": "payment_intent",
                "amount": 4990,
                "currency": "brl",
                "status": status,
                "metadata": {ATTEMPT_KEY: key},
                **(extra or {}),
            }
        },
    }


def signed(
    event: dict[str, Any],
    secrets: str | list[str] = WEBHOOK_SECRET,
    *,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    return body, {
        "Stripe-Signature": sign_header(body, secrets, ts),
        "Content-Type": "application/json",
    }
