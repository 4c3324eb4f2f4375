"""the merchant's Stripe publishable key, for the portal's card form

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("merchant_settings") as batch:
        batch.add_column(sa.Column("gateway_publishable_key", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("merchant_settings") as batch:
        batch.drop_column("gateway_publishable_key")
