"""A customer's payment methods: attach from a gateway token, list, detach.

``attach`` and ``detach`` call the gateway, so they end the request's transaction before
the call (no transaction is held across a network call, and on SQLite the sandbox
ledger's own writes must not wait for ours) and write in a fresh one afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.gateways import (
    Gateway,
    InvalidRequest,
    InvalidToken,
    PaymentMethodDeclined,
    PaymentMethodInfo,
)
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
    except InvalidRequest as exc:
        raise ValidationFailed("token", str(exc)) from exc
    info = await attach_at_gateway(gateway, gateway_customer=gateway_customer, token=token)
    saved = await save_method(
        session,
        merchant_id=merchant_id,
        customer_id=customer.id,
        gateway_customer=gateway_customer,
        info=info,
        set_default=set_default,
        now=now,
    )
    return saved.method


async def attach_at_gateway(
    gateway: Gateway, *, gateway_customer: str, token: str
) -> PaymentMethodInfo:
    """The gateway's attach, its refusals as the problems a payer or merchant can act on."""
    try:
        return await gateway.attach_payment_method(gateway_customer=gateway_customer, token=token)
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


@dataclass(frozen=True)
class Saved:
    method: PaymentMethod
    created: bool  # False: the row was there already (a replay, or a racer saved it first)


async def attached_method(
    session: AsyncSession, merchant_id: str, customer_id: str, gateway_ref: str
) -> PaymentMethod | None:
    found: PaymentMethod | None = await session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.merchant_id == merchant_id,
            PaymentMethod.customer_id == customer_id,
            PaymentMethod.gateway_ref == gateway_ref,
            PaymentMethod.detached_at.is_(None),
        )
    )
    return found


async def save_method(
    session: AsyncSession,
    *,
    merchant_id: str,
    customer_id: str,
    gateway_customer: str,
    info: PaymentMethodInfo,
    set_default: bool,
    now: datetime,
) -> Saved:
    """Our row for a method the gateway has attached: inserted once, whoever asks first.

    A second save of the same gateway method (a replay, a retried merchant request, the
    portal's POST beside the setup webhook) returns the row already there, unchanged. Two
    saves at once both miss it; the unique index lets one insert, and the other's writes
    are rolled back to the savepoint and it returns the winner's row, as a replay would.
    """
    known = await attached_method(session, merchant_id, customer_id, info.gateway_ref)
    if known is not None:
        return Saved(known, created=False)
    method = PaymentMethod(
        id=new_id("pm"),
        merchant_id=merchant_id,
        customer_id=customer_id,
        gateway_ref=info.gateway_ref,
        type=info.type,
        brand=info.brand,
        last4=info.last4,
        exp_month=info.exp_month,
        exp_year=info.exp_year,
        is_default=set_default,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            await _insert_method(session, method, gateway_customer=gateway_customer)
    except IntegrityError:
        # Only our unique index can fail here: the racer's row is committed by now (on
        # PostgreSQL the insert waited for it; on SQLite this transaction began after it).
        winner = await attached_method(session, merchant_id, customer_id, info.gateway_ref)
        if winner is None:
            raise
        return Saved(winner, created=False)
    return Saved(method, created=True)


async def _insert_method(
    session: AsyncSession, method: PaymentMethod, *, gateway_customer: str
) -> PaymentMethod:
    """``method`` added, and made the default as well when the customer has none yet; the
    customer's gateway reference recorded if it had none."""
    customer = await get_customer(session, method.merchant_id, method.customer_id)
    if customer.gateway_customer_ref is None:
        customer.gateway_customer_ref = gateway_customer
    has_default = await session.scalar(
        select(PaymentMethod.id).where(
            PaymentMethod.customer_id == method.customer_id,
            PaymentMethod.detached_at.is_(None),
            PaymentMethod.is_default.is_(True),
        )
    )
    method.is_default = method.is_default or has_default is None
    if method.is_default:
        await session.execute(
            update(PaymentMethod)
            .where(PaymentMethod.customer_id == method.customer_id)
            .values(is_default=False)
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
