"""Customers (payers) of a merchant."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.customers.documents import validate_document
from billing.customers.schemas import CustomerCreate
from billing.events.service import record_event
from billing.kit.errors import NotFound, ValidationFailed
from billing.kit.ids import new_id
from billing.kit.pagination import fetch_page
from billing.models import Customer

# The locales our messages and portal are written in.
LOCALES = {"pt-br": "pt-BR", "pt": "pt-BR", "en": "en", "en-us": "en"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-]{8,20}$")


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.match(value) or len(value) > 320:
        raise ValidationFailed("email", "must be an e-mail address")
    return value.lower()


def _name(value: str) -> str:
    if not value.strip():
        raise ValidationFailed("name", "must not be empty")
    if len(value) > 200:
        raise ValidationFailed("name", "must be at most 200 characters")
    return value.strip()


def _phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if not _PHONE.match(value.strip()):
        raise ValidationFailed("phone", "must be a phone number, e.g. +55 11 91234-5678")
    return value.strip()


def _locale(value: str) -> str:
    found = LOCALES.get(value.strip().lower().replace("_", "-"))
    if found is None:
        raise ValidationFailed("locale", "must be pt-BR or en")
    return found


def _document(value: str | None) -> tuple[str | None, str | None]:
    if value is None or not value.strip():
        return None, None
    try:
        kind, clean = validate_document(value)
    except ValueError as exc:
        raise ValidationFailed("document", str(exc)) from exc
    return clean, kind


async def create_customer(
    session: AsyncSession, merchant_id: str, data: CustomerCreate, *, now: datetime
) -> Customer:
    document, document_type = _document(data.document)
    customer = Customer(
        id=new_id("cus"),
        merchant_id=merchant_id,
        email=_email(data.email),
        name=_name(data.name),
        phone=_phone(data.phone),
        document=document,
        document_type=document_type,
        is_business=data.is_business if data.is_business is not None else document_type == "cnpj",
        locale=_locale(data.locale),
        external_id=data.external_id,
        metadata_=data.metadata,
        created_at=now,
    )
    session.add(customer)
    await session.flush()
    await record_event(
        session, merchant_id, "customer.created", {"customer_id": customer.id}, now=now
    )
    return customer


async def get_customer(session: AsyncSession, merchant_id: str, customer_id: str) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.merchant_id == merchant_id)
    )
    if customer is None:
        raise NotFound(f"No customer {customer_id}")
    return customer


async def list_customers(
    session: AsyncSession,
    merchant_id: str,
    *,
    email: str | None,
    external_id: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[Sequence[Customer], bool]:
    query = select(Customer).where(Customer.merchant_id == merchant_id)
    if email:
        query = query.where(Customer.email == email.strip().lower())
    if external_id:
        query = query.where(Customer.external_id == external_id)
    return await fetch_page(session, query, Customer.id, limit=limit, starting_after=starting_after)


async def update_customer(
    session: AsyncSession,
    merchant_id: str,
    customer_id: str,
    changes: dict[str, Any],
    *,
    now: datetime,
) -> Customer:
    customer = await get_customer(session, merchant_id, customer_id)
    if "email" in changes:
        customer.email = _email(changes["email"])
    if "name" in changes:
        customer.name = _name(changes["name"])
    if "phone" in changes:
        customer.phone = _phone(changes["phone"])
    if "document" in changes:
        customer.document, customer.document_type = _document(changes["document"])
        if "is_business" not in changes:
            customer.is_business = customer.document_type == "cnpj"
    if "is_business" in changes:
        customer.is_business = bool(changes["is_business"])
    if "locale" in changes:
        customer.locale = _locale(changes["locale"])
    if "external_id" in changes:
        customer.external_id = changes["external_id"]
    if "metadata" in changes:
        customer.metadata_ = changes["metadata"]
    await session.flush()
    await record_event(
        session,
        merchant_id,
        "customer.updated",
        {"customer_id": customer.id, "changed": sorted(changes)},
        now=now,
    )
    return customer
