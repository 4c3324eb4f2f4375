"""A customer's payment methods: attach from a gateway token, list, detach.

``attach`` and ``detach`` call the gateway, so they end the request's transaction before
the call (no transaction is held across a network call, and on SQLite the sandbox
ledger's own writes must not wait for ours) and write in a fresh one afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.gateways import InvalidRequest, InvalidToken, PaymentMethodDeclined
from billing.jobs import JobContext
from billing.kit.errors import NotFound, ValidationFailed
from billing.kit.ids import new_id
from billing.models import Customer, PaymentMethod
from billing.payments.errors import CardDeclined
from billing.payments.gateway_registry import merchant_gateway


async def get_customer(session: AsyncSession, merchant_id: str, customer_id: str) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.merchant_id == merchant_id)
    )
    if customer is None:
        raise NotFound(f"No customer {customer_id}")
    return customer


async def get_method(
    session: AsyncSession, merchant_id: str, customer_id: str, method_id: str
) -> PaymentMethod:
    method = await session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.id == method_id,
            PaymentMethod.merchant_id == merchant_id,
            PaymentMethod.customer_id == customer_id,
            PaymentMethod.detached_at.is_(None),
        )
    )
    if method is None:
        raise NotFound(f"No payment method {method_id}")
    return method


async def list_methods(
    session: AsyncSession, merchant_id: str, customer_id: str
) -> Sequence[PaymentMethod]:
    await get_customer(session, merchant_id, customer_id)
    rows = await session.scalars(
        select(PaymentMethod)
        .where(
            PaymentMethod.merchant_id == merchant_id,
            PaymentMethod.customer_id == customer_id,
            PaymentMethod.detached_at.is_(None),
        )
        .order_by(PaymentMethod.id.desc())
    )
    return rows.all()


async def attach_method(
    session: AsyncSession,
    ctx: JobContext,
    *,
    merchant_id: str,
    customer_id: str,
    token: str,
    set_default: bool,
    now: datetime,
) -> PaymentMethod:
    if not token.strip():
        raise ValidationFailed("token", "must not be empty")
    customer = await get_customer(session, merchant_id, customer_id)
    gateway, _ = await merchant_gateway(session, ctx, merchant_id)
    known_ref = customer.gateway_customer_ref
    await session.commit()  # see the module docstring

    try:
        gateway_customer = known_ref or await gateway.ensure_customer(
            merchant_id=merchant_id,
            customer_id=customer.id,
            email=customer.email,
            name=customer.name,
        )
        info = await gateway.attach_payment_method(gateway_customer=gateway_customer, token=token)
    except PaymentMethodDeclined as exc:
        raise CardDeclined(
            exc.message or "The card was declined.",
            decline_code=exc.decline_code,
            decline_type=exc.decline_type,
            failure_code=exc.code,
        ) from exc
    except InvalidToken as exc:
        raise ValidationFailed("token", "is not a payment method token the gateway knows") from exc
    except InvalidRequest as exc:
        raise ValidationFailed("token", str(exc)) from exc

    customer = await get_customer(session, merchant_id, customer_id)
    if customer.gateway_customer_ref is None:
        customer.gateway_customer_ref = gateway_customer
    has_default = await session.scalar(
        select(PaymentMethod.id).where(
            PaymentMethod.customer_id == customer.id,
            PaymentMethod.detached_at.is_(None),
            PaymentMethod.is_default.is_(True),
        )
    )
    make_default = set_default or has_default is None
    if make_default:
        await session.execute(
            update(PaymentMethod)
            .where(PaymentMethod.customer_id == customer.id)
            .values(is_default=False)
        )
    method = PaymentMethod(
        id=new_id("pm"),
        merchant_id=merchant_id,
        customer_id=customer.id,
        gateway_ref=info.gateway_ref,
        type=info.type,
        brand=info.brand,
        last4=info.last4,
        exp_month=info.exp_month,
        exp_year=info.exp_year,
        is_default=make_default,
        created_at=now,
    )
    session.add(method)
    await session.flush()
    return method


async def detach_method(
    session: AsyncSession,
    ctx: JobContext,
    *,
    merchant_id: str,
    customer_id: str,
    method_id: str,
    now: datetime,
) -> PaymentMethod:
    method = await get_method(session, merchant_id, customer_id, method_id)
    gateway, _ = await merchant_gateway(session, ctx, merchant_id)
    await session.commit()  # see the module docstring
    # Already gone at the gateway is what we wanted.
    with contextlib.suppress(InvalidRequest):
        await gateway.detach_payment_method(method.gateway_ref)
    method = await get_method(session, merchant_id, customer_id, method_id)
    method.detached_at = now
    method.is_default = False
    await session.flush()
    return method
