"""portal: payer sessions (single-use link, then cookie) and login-link attempts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("link_hash", sa.String(64), nullable=False),
        sa.Column("session_hash", sa.String(64), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("return_url", sa.String(2000), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("link_expires_at", TS, nullable=False),
        sa.Column("redeemed_at", TS, nullable=True),
        sa.Column("session_expires_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_portal_sessions_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_portal_sessions_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sessions")),
        sa.UniqueConstraint("link_hash", name=op.f("uq_portal_sessions_link_hash")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_portal_sessions_session_hash")),
    )
    op.create_index(
        "ix_portal_sessions_customer", "portal_sessions", ["merchant_id", "customer_id"]
    )
    op.create_table(
        "portal_login_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_login_attempts")),
    )
    op.create_index(
        "ix_portal_login_attempts_key",
        "portal_login_attempts",
        ["kind", "key_hash", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_portal_login_attempts_key", table_name="portal_login_attempts")
    op.drop_table("portal_login_attempts")
    op.drop_index("ix_portal_sessions_customer", table_name="portal_sessions")
    op.drop_table("portal_sessions")
