"""reports: indexes for recovery and per-customer metrics

Recovery reads one merchant's installments *paid* in a date range; with only
``(status, due_at)`` PostgreSQL walked every paid installment of every merchant and
filtered on ``paid_at``. A partial index on ``(merchant_id, paid_at)`` holding only paid
rows is a range scan (an index-only one on PostgreSQL, with the columns recovery reads
included). Customer metrics sum one customer's successful attempts; attempts
had no customer index, so that was a scan of the merchant's attempts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Covering on PostgreSQL: recovery reads only these, so the scan never visits the table.
INCLUDED = ["id", "due_at", "amount_paid", "attempt_count"]


def upgrade() -> None:
    op.create_index(
        "ix_invoices_merchant_paid",
        "invoices",
        ["merchant_id", "paid_at"],
        postgresql_include=INCLUDED,
        postgresql_where=sa.text("status = 'paid'"),
        sqlite_where=sa.text("status = 'paid'"),
    )
    op.create_index(
        "ix_payment_attempts_customer", "payment_attempts", ["merchant_id", "customer_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_payment_attempts_customer", table_name="payment_attempts")
    op.drop_index("ix_invoices_merchant_paid", table_name="invoices")
