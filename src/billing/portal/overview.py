"""The overview page, the portal's busiest, in one statement: one round trip per page.

The session check, the payer and merchant, the subscriptions with their plans and the open
installments with their latest attempt arrive as the rows of one UNION ALL, told apart by
``kind``. Each branch starts from the session's unique hash (the session must be live, or
no branch returns anything), so every branch is an index lookup scoped by the session's
own merchant and customer: another payer's rows cannot appear.
"""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    cast,
    func,
    literal_column,
    null,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from billing.collection.late_fees import LateFeePolicy
from billing.gateways.declines import payer_message
from billing.invoices.repository import capped_for_consumer, policy_from_json
from billing.invoices.schemas import DEFAULT_TZ, InvoiceOut
from billing.invoices.state import COLLECTIBLE
from billing.kit.one_hop_read import OneHopRead
from billing.kit.secrets import hash_token
from billing.models import (
    Customer,
    Invoice,
    Merchant,
    MerchantSettings,
    PaymentAttempt,
    Plan,
    PortalSession,
    Subscription,
)
from billing.portal.sessions import (
    LIVE_SESSION,
    PAYER_COLUMNS,
    Payer,
    PortalAccessError,
    looks_like_session,
    payer_of,
)
from billing.portal.views import (
    SUBSCRIPTION_COLUMNS,
    InvoiceRow,
    Overview,
    SubscriptionView,
    display_status,
    subscription_view,
)

_PAYER = (
    *PAYER_COLUMNS,
    MerchantSettings.late_fees,  # read with the page: a policy change shows at once
)
_LAST = aliased(PaymentAttempt)
_INSTALLMENT = (
    *Invoice.__table__.c,
    Customer.is_business,
    _LAST.status,
    _LAST.decline_code,
    _LAST.failure_code,
)
# Result names: the invoice's own column names (InvoiceOut.build reads the row like the
# ORM object), prefixed names for the rest.
_NAMES = (
    [f"payer_{i}" for i in range(len(_PAYER))]
    + [f"sub_{i}" for i in range(len(SUBSCRIPTION_COLUMNS))]
    + [c.name for c in Invoice.__table__.c]
    + ["is_business", "last_status", "last_decline_code", "last_failure_code"]
)
_SECTIONS = (_PAYER, SUBSCRIPTION_COLUMNS, _INSTALLMENT)


def _columns(kind: str, filled: int) -> list[ColumnElement[Any]]:
    """The branch's own section, every other section as NULLs cast to the same types
    (PostgreSQL would otherwise settle two untyped NULLs as text)."""
    values = [
        column if index == filled else cast(null(), column.type)
        for index, section in enumerate(_SECTIONS)
        for column in section
    ]
    return [
        literal_column(f"'{kind}'", String).label("kind"),
        *(value.label(name) for value, name in zip(values, _NAMES, strict=True)),
    ]


def _live_session(query: Select[Any], merchant: Any, customer: Any) -> Select[Any]:
    return query.join(
        PortalSession,
        (PortalSession.merchant_id == merchant) & (PortalSession.customer_id == customer),
    ).where(*LIVE_SESSION)


_LAST_NUMBER = (
    select(func.max(PaymentAttempt.attempt_number))
    .where(PaymentAttempt.invoice_id == Invoice.id)
    .correlate(Invoice)
    .scalar_subquery()
)

_STATEMENT = _live_session(
    select(*_columns("payer", 0))
    .select_from(Customer)
    .join(Merchant, Merchant.id == Customer.merchant_id)
    .outerjoin(MerchantSettings, MerchantSettings.merchant_id == Merchant.id),
    Customer.merchant_id,
    Customer.id,
).union_all(
    _live_session(
        select(*_columns("subscription", 1))
        .select_from(Subscription)
        .join(Plan, Plan.id == Subscription.plan_id),
        Subscription.merchant_id,
        Subscription.customer_id,
    ),
    _live_session(
        select(*_columns("installment", 2))
        .select_from(Invoice)
        .join(
            Customer,
            (Customer.id == Invoice.customer_id) & (Customer.merchant_id == Invoice.merchant_id),
        )
        .outerjoin(_LAST, (_LAST.invoice_id == Invoice.id) & (_LAST.attempt_number == _LAST_NUMBER))
        # Our own constants, written into the SQL: a bound IN list is expanded (the
        # statement re-rendered) on every execution.
        .where(Invoice.status.in_([literal_column(f"'{s}'") for s in sorted(COLLECTIBLE)])),
        Invoice.merchant_id,
        Invoice.customer_id,
    ),
)
_READ = OneHopRead(_STATEMENT)
_SUB_AT = 1 + len(_PAYER)
_INSTALLMENT_AT = _SUB_AT + len(SUBSCRIPTION_COLUMNS)


async def read_overview(
    connection: AsyncConnection, session_raw: str | None, now: datetime
) -> tuple[Payer, Overview]:
    """The payer of a live session cookie and their overview, in one query."""
    if not looks_like_session(session_raw):
        raise PortalAccessError("session", 401)
    rows = await _READ.rows(connection, {"session_hash": hash_token(session_raw), "now": now})
    payer_rows = [r for r in rows if r[0] == "payer"]
    if not payer_rows:
        raise PortalAccessError("session", 401)
    p = payer_rows[0]
    payer = payer_of(p[1:])
    policy = policy_from_json(p[_SUB_AT - 1])
    subs = sorted(
        (subscription_view(r[_SUB_AT:_INSTALLMENT_AT]) for r in rows if r[0] == "subscription"),
        key=lambda s: s.id,
        reverse=True,
    )
    found = sorted((r for r in rows if r[0] == "installment"), key=lambda r: r.due_at)
    return payer, _overview(payer, subs, found, policy, now)


def _overview(
    payer: Payer,
    subs: list[SubscriptionView],
    found: list[Any],
    policy: LateFeePolicy,
    now: datetime,
) -> Overview:
    rows = []
    tz = payer.merchant.timezone or DEFAULT_TZ
    for r in found:
        view = InvoiceOut.build(
            typing.cast(Invoice, r),
            (),
            now=now,
            policy=capped_for_consumer(policy, r.currency, bool(r.is_business)),
            tz=tz,
        )
        message = None
        if r.last_status == "failed":
            message = payer_message(r.last_decline_code or r.last_failure_code, payer.locale)
        processing = r.last_status == "processing"
        rows.append(InvoiceRow(view, display_status(view, now, processing), message))
    overdue = [r for r in rows if r.display_status == "overdue"]
    pending = [r for r in rows if r.display_status != "overdue"]
    renewing = [s for s in subs if s.renewing and not s.cancel_at_period_end]
    next_charge = min(renewing, key=lambda s: s.current_period_end, default=None)
    currency = (
        overdue[0].invoice.currency if overdue else (subs[0].plan.currency if subs else "BRL")
    )
    return Overview(
        subscriptions=subs,
        overdue=overdue,
        open=pending,
        due_today=sum(r.invoice.amount_due for r in overdue),
        currency=currency,
        next_charge=next_charge,
    )
