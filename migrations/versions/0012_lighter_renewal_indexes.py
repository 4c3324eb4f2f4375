"""lighter indexes on the billing run's inserts

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLANNED = sa.text("next_payment_attempt IS NOT NULL")


def upgrade() -> None:
    # ix_events_merchant_type's leading column already serves merchant lookups.
    op.drop_index("ix_events_merchant_id", table_name="events")
    # Every renewal inserts an invoice with no retry planned: keep those out of the index.
    op.drop_index("ix_invoices_next_attempt", table_name="invoices")
    op.create_index(
        "ix_invoices_next_attempt",
        "invoices",
        ["next_payment_attempt"],
        postgresql_where=PLANNED,
        sqlite_where=PLANNED,
    )


def downgrade() -> None:
    op.drop_index("ix_invoices_next_attempt", table_name="invoices")
    op.create_index("ix_invoices_next_attempt", "invoices", ["next_payment_attempt"])
    op.create_index("ix_events_merchant_id", "events", ["merchant_id"])
