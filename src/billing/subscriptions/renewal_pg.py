"""PostgreSQL's fast path for the billing run.

A batch is two round trips: the due rows are selected (and locked) with only the columns
the period arithmetic needs, then one statement (``RENEW_SQL``) takes the invoice numbers,
inserts invoices, lines and events and advances the subscriptions. Everything the database
already knows (customer, plan price and name, credit, due date) is joined server-side, so
Python sends four columns per subscription, each as one array (``unnest``), and never
builds or parses a row it does not need. SQLite uses the portable executemany path.
"""

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
from billing.subscriptions.state import RENEWING

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


_EVENT_SQL = text(
    """
    INSERT INTO events (id, merchant_id, type, data, created_at)
    SELECT v.id, v.merchant_id, v.type, CAST(v.data AS jsonb), v.created_at
    FROM unnest(CAST(:id AS text[]), CAST(:merchant_id AS text[]), CAST(:type AS text[]),
        CAST(:data AS text[]), CAST(:created_at AS timestamptz[]))
      AS v(id, merchant_id, type, data, created_at)
    """
)


async def insert_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    params = _columns(rows, ["id", "merchant_id", "type", "created_at"])
    params["data"] = [json.dumps(row["data"]) for row in rows]
    await session.execute(_EVENT_SQL, params)


# The renewing statuses as literals, not a parameter: only then can the planner use the
# partial index ix_subscriptions_renewal_due (migration 0009) and read it in time order,
# stopping after the batch instead of sorting every due row.
_RENEWING = ", ".join(f"'{status}'" for status in sorted(RENEWING))


# Only what Python needs: the period arithmetic (anchor, interval, zone), the ending rules
# (cancel_at_period_end, billing_cycles) and, for endings, the event's ids. Row locks are
# taken on subscriptions only (plans and merchants are read, not written).
def _due_sql(also: str = "") -> Any:
    return text(
        f"""
        SELECT s.id, s.status, s.anchor_at, s.period_index, s.current_period_end,
            s.cancel_at_period_end, s.cycles_billed, p.billing_cycles, p.interval,
            p.interval_count, m.timezone, s.merchant_id, s.customer_id
        FROM subscriptions AS s
        JOIN plans AS p ON p.id = s.plan_id
        JOIN merchants AS m ON m.id = s.merchant_id
        WHERE s.status IN ({_RENEWING}) AND s.current_period_end <= :now {also}
        ORDER BY s.current_period_end
        LIMIT :limit
        FOR UPDATE OF s SKIP LOCKED
        """
    )


DUE_SQL = _due_sql()
# The same, from the merchants this batch claimed (claim_merchants).
DUE_CLAIMED_SQL = _due_sql("AND s.merchant_id = ANY(CAST(:merchant_ids AS text[]))")

# Which merchants the next batch should come from: the merchants of the earliest due rows
# (a window a few batches wide, no locks) with how many of those rows each has.
CANDIDATES_SQL = text(
    f"""
    SELECT w.merchant_id, count(*) AS due
    FROM (SELECT s.merchant_id, s.current_period_end FROM subscriptions AS s
          WHERE s.status IN ({_RENEWING}) AND s.current_period_end <= :now
          ORDER BY s.current_period_end LIMIT :window) AS w
    GROUP BY w.merchant_id
    ORDER BY min(w.current_period_end), w.merchant_id
    """
)

# A merchant's invoice numbers are taken under its sequence row's lock until commit (no
# gaps), so two workers renewing one merchant at once take turns. Each batch first claims
# merchants no other worker is renewing (an advisory lock per merchant, released at
# commit) and renews only theirs: two workers then run side by side.
CLAIM_SQL = text(
    """
    SELECT m FROM unnest(CAST(:merchant_ids AS text[])) AS m
    WHERE pg_try_advisory_xact_lock(hashtextextended('billing-run:' || m, 0))
    """
)


# A lock per merchant claimed, held to commit: few enough that two workers stay well inside
# PostgreSQL's shared lock table (64 per connection by default).
MAX_CLAIMED = 32


async def claim_merchants(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Merchants this batch renews alone, enough of them to fill about ``limit`` rows.

    Empty when claiming does not pay: every candidate is another worker's, or the due rows
    are spread over so many merchants that the claimable few would fill less than half a
    batch (then batches mix merchants, as without claims, and their numbers take turns)."""
    candidates = (await session.execute(CANDIDATES_SQL, {"now": now, "window": limit * 4})).all()
    claimed: list[str] = []
    covered = 0
    start = 0
    while start < len(candidates) and covered < limit and len(claimed) < MAX_CLAIMED:
        # The fewest merchants whose due rows fill the batch; those taken by others are
        # skipped and the next ones tried.
        end, want = start, 0
        room = MAX_CLAIMED - len(claimed)
        while end < len(candidates) and covered + want < limit and end - start < room:
            want += candidates[end].due
            end += 1
        chunk = {c.merchant_id: c.due for c in candidates[start:end]}
        got = (await session.scalars(CLAIM_SQL, {"merchant_ids": list(chunk)})).all()
        claimed.extend(got)
        covered += sum(chunk[m] for m in got)
        start = end
    if covered * 2 < min(limit, sum(c.due for c in candidates)):
        return []  # the locks taken are released at commit; they only guide other workers
    return claimed


# One statement per batch. Data-modifying CTEs all run to completion on one snapshot, so
# ``src`` reads each subscription as it was before ``advanced`` moves it on.
# - ``fresh`` leaves out periods that already have their invoice (an inconsistent past):
#   they are advanced but take no number, so numbering keeps no gap. ``existing`` looks
#   them up once per batch with one ``= ANY(array)`` scan of the unique index, so a planner
#   misled by a young table's statistics can at worst scan invoices once per batch, never
#   once a row. MATERIALIZED: inlined, the array test would be re-run for every row.
# - ``seq`` reserves each merchant's numbers in one upsert (numbering.py's guarantee: the
#   row lock serializes takers, a rollback returns the numbers). Rows are upserted in
#   merchant order so two workers lock sequence rows in the same order and never deadlock.
# - Lines: every subscription line, then the proration credits, so within an invoice the
#   credit follows the charge (serial ids), as the executemany path writes them.
# - due_at adds whole 24-hour days (not calendar days in the session's zone), like
#   ``start + timedelta(days=n)`` does on the SQLite path.
RENEW_SQL = text(
    """
    WITH v AS (
        SELECT * FROM unnest(CAST(:sub_id AS text[]), CAST(:period_end AS timestamptz[]),
            CAST(:status AS text[]), CAST(:invoice_id AS text[]), CAST(:event_id AS text[]))
          WITH ORDINALITY AS v(sub_id, period_end, status, invoice_id, event_id, ord)
    ),
    src AS (
        SELECT v.sub_id, v.period_end, v.status, v.invoice_id, v.event_id, v.ord,
            s.merchant_id, s.customer_id, s.collection_method, s.days_until_due,
            s.current_period_end AS period_start, p.amount, p.currency, p.name,
            LEAST(s.pending_credit, p.amount) AS credit
        FROM v
        JOIN subscriptions AS s ON s.id = v.sub_id
        JOIN plans AS p ON p.id = s.plan_id
    ),
    existing AS MATERIALIZED (
        SELECT i.subscription_id, i.period_start FROM invoices AS i
        WHERE i.subscription_id = ANY(CAST(:sub_id AS text[]))
    ),
    fresh AS (
        SELECT src.*,
            row_number() OVER (PARTITION BY src.merchant_id ORDER BY src.ord) AS k,
            count(*) OVER (PARTITION BY src.merchant_id) AS taken
        FROM src
        WHERE NOT EXISTS (
            SELECT 1 FROM existing AS e
            WHERE e.subscription_id = src.sub_id AND e.period_start = src.period_start)
    ),
    seq AS (
        INSERT INTO invoice_sequences AS q (merchant_id, last_number)
        SELECT merchant_id, count(*) FROM fresh GROUP BY merchant_id ORDER BY merchant_id
        ON CONFLICT (merchant_id) DO UPDATE SET last_number = q.last_number + EXCLUDED.last_number
        RETURNING q.merchant_id, q.last_number
    ),
    ins AS (
        INSERT INTO invoices (id, merchant_id, customer_id, subscription_id, number, status,
            collection_method, currency, subtotal, discount, late_fee, interest, total,
            amount_paid, due_at, period_start, period_end, paid_at, attempt_count, created_at)
        SELECT f.invoice_id, f.merchant_id, f.customer_id, f.sub_id,
            seq.last_number - f.taken + f.k,
            CASE WHEN f.amount - f.credit > 0 THEN 'open' ELSE 'paid' END,
            f.collection_method, f.currency, f.amount, 0, 0, 0, f.amount - f.credit, 0,
            CASE WHEN f.collection_method = 'send_invoice'
                THEN f.period_start + f.days_until_due * interval '24 hours'
                ELSE f.period_start END,
            f.period_start, f.period_end,
            CASE WHEN f.amount - f.credit > 0 THEN NULL ELSE CAST(:now AS timestamptz) END,
            0, :now
        FROM fresh AS f JOIN seq ON seq.merchant_id = f.merchant_id
        ON CONFLICT (subscription_id, period_start) DO NOTHING
        RETURNING id, merchant_id, customer_id, subscription_id, number, status,
            collection_method, currency, total
    ),
    made AS (
        SELECT ins.*, f.event_id, f.name, f.amount, f.credit, f.period_start, f.period_end,
            f.ord
        FROM ins JOIN fresh AS f ON f.invoice_id = ins.id
    ),
    lines AS (
        INSERT INTO invoice_lines (invoice_id, merchant_id, kind, description, amount,
            period_start, period_end)
        SELECT id, merchant_id, 'subscription', name, amount, period_start, period_end
        FROM made
        UNION ALL
        SELECT id, merchant_id, 'proration', 'Credit from a plan change', -credit,
            period_start, period_end
        FROM made WHERE credit > 0
    ),
    evs AS (
        INSERT INTO events (id, merchant_id, type, data, created_at)
        SELECT event_id, merchant_id, 'invoice.created',
            jsonb_build_object('invoice_id', id, 'number', number,
                'customer_id', customer_id, 'subscription_id', subscription_id,
                'total', total, 'currency', currency, 'status', status),
            :now
        FROM made
    ),
    advanced AS (
        UPDATE subscriptions AS s
        SET period_index = s.period_index + 1, current_period_start = s.current_period_end,
            current_period_end = src.period_end, cycles_billed = s.cycles_billed + 1,
            pending_credit = s.pending_credit - src.credit, status = src.status
        FROM src
        WHERE s.id = src.sub_id
    )
    SELECT id, merchant_id, status, collection_method, event_id FROM made ORDER BY ord
    """
)


async def renew(
    session: AsyncSession,
    now: datetime,
    sub_ids: list[str],
    period_ends: list[datetime],
    statuses: list[str],
    invoice_ids: list[str],
    event_ids: list[str],
) -> list[Any]:
    """Run ``RENEW_SQL``; returns (invoice id, merchant id, status, collection method,
    event id) for each invoice created, in the order the subscriptions were given."""
    found = await session.execute(
        RENEW_SQL,
        {
            "now": now,
            "sub_id": sub_ids,
            "period_end": period_ends,
            "status": statuses,
            "invoice_id": invoice_ids,
            "event_id": event_ids,
        },
    )
    return list(found.all())
