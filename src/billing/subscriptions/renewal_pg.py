"""PostgreSQL's fast path for the billing run: each statement sends whole columns as arrays
(``unnest``), so a batch of thousands of rows is one round trip per table, with no
per-row parameter processing on our side. SQLite uses the portable executemany path."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.kit.ids import _encode

# RFC 4648 base32 to Crockford's (kit/ids.py): same values, both in ascending ASCII order,
# so the encoded ids sort like the numbers they encode.
_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


def bulk_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids shaped like kit.ids.new_id (time then 80 bits), made in one go."""
    head = f"{prefix}_{_encode(int(time.time() * 1000), 10)}"
    start = int.from_bytes(os.urandom(10), "big") >> 2  # room to count up without overflow
    raw = b"".join((start + i).to_bytes(10, "big") for i in range(count))
    encoded = base64.b32encode(raw).translate(_CROCKFORD).decode()
    return [head + encoded[i * 16 : i * 16 + 16] for i in range(count)]


def _columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


_INVOICE_SQL = text(
    """
    INSERT INTO invoices (id, merchant_id, customer_id, subscription_id, number, status,
        collection_method, currency, subtotal, discount, late_fee, interest, total,
        amount_paid, due_at, period_start, period_end, paid_at, attempt_count, created_at)
    SELECT v.id, v.merchant_id, v.customer_id, v.subscription_id, v.number, v.status,
        v.collection_method, v.currency, v.subtotal, 0, 0, 0, v.total, 0, v.due_at,
        v.period_start, v.period_end, v.paid_at, 0, v.created_at
    FROM unnest(CAST(:id AS text[]), CAST(:merchant_id AS text[]),
        CAST(:customer_id AS text[]), CAST(:subscription_id AS text[]),
        CAST(:number AS int[]), CAST(:status AS text[]), CAST(:collection_method AS text[]),
        CAST(:currency AS text[]), CAST(:subtotal AS bigint[]), CAST(:total AS bigint[]),
        CAST(:due_at AS timestamptz[]), CAST(:period_start AS timestamptz[]),
        CAST(:period_end AS timestamptz[]), CAST(:paid_at AS timestamptz[]),
        CAST(:created_at AS timestamptz[]))
      AS v(id, merchant_id, customer_id, subscription_id, number, status, collection_method,
           currency, subtotal, total, due_at, period_start, period_end, paid_at, created_at)
    ON CONFLICT (subscription_id, period_start) DO NOTHING
    """
)
_INVOICE_COLUMNS = [
    "id", "merchant_id", "customer_id", "subscription_id", "number", "status",
    "collection_method", "currency", "subtotal", "total", "due_at", "period_start",
    "period_end", "paid_at", "created_at",
]  # fmt: skip

_LINE_SQL = text(
    """
    INSERT INTO invoice_lines (invoice_id, merchant_id, kind, description, amount,
        period_start, period_end)
    SELECT * FROM unnest(CAST(:invoice_id AS text[]), CAST(:merchant_id AS text[]),
        CAST(:kind AS text[]), CAST(:description AS text[]), CAST(:amount AS bigint[]),
        CAST(:period_start AS timestamptz[]), CAST(:period_end AS timestamptz[]))
    """
)
_LINE_COLUMNS = [
    "invoice_id",
    "merchant_id",
    "kind",
    "description",
    "amount",
    "period_start",
    "period_end",
]

_EVENT_SQL = text(
    """
    INSERT INTO events (id, merchant_id, type, data, created_at)
    SELECT v.id, v.merchant_id, v.type, CAST(v.data AS jsonb), v.created_at
    FROM unnest(CAST(:id AS text[]), CAST(:merchant_id AS text[]), CAST(:type AS text[]),
        CAST(:data AS text[]), CAST(:created_at AS timestamptz[]))
      AS v(id, merchant_id, type, data, created_at)
    """
)

_ADVANCE_SQL = text(
    """
    UPDATE subscriptions AS s
    SET period_index = v.period_index, current_period_start = v.period_start,
        current_period_end = v.period_end, cycles_billed = s.cycles_billed + 1,
        pending_credit = s.pending_credit - v.credit, status = v.status
    FROM unnest(CAST(:id AS text[]), CAST(:old AS text[]), CAST(:period_index AS int[]),
        CAST(:period_start AS timestamptz[]), CAST(:period_end AS timestamptz[]),
        CAST(:credit AS bigint[]), CAST(:status AS text[]))
      AS v(id, old, period_index, period_start, period_end, credit, status)
    WHERE s.id = v.id AND s.status = v.old
    """
)

_EXISTING_SQL = text(
    """
    SELECT i.subscription_id, i.period_start
    FROM invoices AS i
    JOIN unnest(CAST(:id AS text[]), CAST(:period_start AS timestamptz[])) AS v(id, ps)
      ON i.subscription_id = v.id AND i.period_start = v.ps
    """
)


async def insert_invoices(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(_INVOICE_SQL, _columns(rows, _INVOICE_COLUMNS))


async def insert_lines(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(_LINE_SQL, _columns(rows, _LINE_COLUMNS))


async def insert_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    params = _columns(rows, ["id", "merchant_id", "type", "created_at"])
    params["data"] = [json.dumps(row["data"]) for row in rows]
    await session.execute(_EVENT_SQL, params)


async def advance(session: AsyncSession, params: dict[str, list[Any]]) -> None:
    await session.execute(_ADVANCE_SQL, params)


async def already_invoiced(
    session: AsyncSession, ids: list[str], starts: list[datetime]
) -> set[tuple[str, datetime]]:
    found = await session.execute(_EXISTING_SQL, {"id": ids, "period_start": starts})
    return {(sid, start) for sid, start in found.all()}
