"""billing run: a partial index on the next renewal time of renewing subscriptions

The run takes due subscriptions oldest first (``ORDER BY current_period_end LIMIT n FOR
UPDATE SKIP LOCKED``). With ``(status, current_period_end)`` and three renewing statuses
PostgreSQL cannot read the index in time order, so every batch sorted every due row (100 ms
a batch with 100,000 due). Keyed on the time alone and holding only renewing rows, the index
is read in order and the scan stops after the batch; canceled and paused subscriptions
(the bulk of an old table) leave it. The sandbox's next-renewal lookup (min over the same
rows) reads its first entry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must stay the literal list of subscriptions.state.RENEWING, in the same words as the
# queries (renewal_pg.DUE_SQL), or the planner cannot prove the index applies.
RENEWING = "status IN ('active', 'past_due', 'trialing')"


def upgrade() -> None:
    op.create_index(
        "ix_subscriptions_renewal_due",
        "subscriptions",
        ["current_period_end"],
        postgresql_where=sa.text(RENEWING),
        sqlite_where=sa.text(RENEWING),
    )
    op.drop_index("ix_subscriptions_renewal", table_name="subscriptions")


def downgrade() -> None:
    op.create_index("ix_subscriptions_renewal", "subscriptions", ["status", "current_period_end"])
    op.drop_index("ix_subscriptions_renewal_due", table_name="subscriptions")
