"""dunning and collection: indexes for the retry planner's and the delivery sweep

The sweep walks open ``charge_automatically`` installments in id order (keyset batches)
and, per installment, looks up its latest automatic attempt and that attempt's failures.
Paid installments and payer/merchant payments are the bulk of both tables in a living
database, so both indexes are partial and hold only what the sweep reads. The delivery sweep walks
pending outbox messages in id order the same way (sent ones are the bulk of that table).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_AUTOMATIC = "status = 'open' AND collection_method = 'charge_automatically'"
AUTOMATIC = "initiated_by IN ('automatic', 'retry')"


def upgrade() -> None:
    op.create_index(
        "ix_invoices_open_automatic",
        "invoices",
        ["id"],
        postgresql_where=sa.text(OPEN_AUTOMATIC),
        sqlite_where=sa.text(OPEN_AUTOMATIC),
    )
    op.create_index(
        "ix_payment_attempts_automatic",
        "payment_attempts",
        ["invoice_id", "attempt_number"],
        postgresql_where=sa.text(AUTOMATIC),
        sqlite_where=sa.text(AUTOMATIC),
    )

    op.create_index(
        "ix_collection_messages_pending",
        "collection_messages",
        ["id"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_collection_messages_pending", table_name="collection_messages")
    op.drop_index("ix_payment_attempts_automatic", table_name="payment_attempts")
    op.drop_index("ix_invoices_open_automatic", table_name="invoices")
