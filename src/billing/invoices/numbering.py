"""Invoice numbers per merchant without gaps.

Numbers are taken from the merchant's ``invoice_sequences`` row in the same transaction that
inserts the invoices: the row lock serializes concurrent takers, and a rollback returns
the numbers with the invoices, so the sequence never skips.

The billing run on PostgreSQL takes its numbers inside its single batch statement
(subscriptions/renewal_pg.RENEW_SQL, CTE ``seq``) with the same upsert, one row per merchant
in merchant order; a change to how numbers are taken here must be made there too.
"""

from __future__ import annotations

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from billing.db import is_postgres
from billing.models import InvoiceSequence


async def take_numbers(session: AsyncSession, merchant_id: str, count: int) -> int:
    """Reserve ``count`` consecutive numbers; returns the first of them."""
    if count <= 0:
        raise ValueError("count must be positive")
    dialect_insert = postgresql.insert if is_postgres(session) else sqlite.insert
    table = InvoiceSequence.__table__
    assert isinstance(table, Table)
    statement = (
        dialect_insert(table)
        .values(merchant_id=merchant_id, last_number=count)
        .on_conflict_do_update(
            index_elements=[table.c.merchant_id],
            set_={"last_number": table.c.last_number + count},
        )
        .returning(table.c.last_number)
    )
    last = (await session.execute(statement)).scalar_one()
    return int(last) - count + 1


async def last_number(session: AsyncSession, merchant_id: str) -> int:
    found = await session.scalar(
        select(InvoiceSequence.last_number).where(InvoiceSequence.merchant_id == merchant_id)
    )
    return int(found or 0)
