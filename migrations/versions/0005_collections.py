"""collections: notification outbox, dunning state, customer notes, promises to pay

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "collection_messages",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("step_key", sa.String(40), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("template", sa.String(32), nullable=False),
        sa.Column("tone", sa.String(8), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("scheduled_at", TS, nullable=False),
        sa.Column("deliver_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("rendered_template", sa.String(32), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("provider_message_id", sa.String(300), nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _fk("collection_messages", "merchant_id", "merchants"),
        _fk("collection_messages", "customer_id", "customers"),
        _fk("collection_messages", "invoice_id", "invoices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_messages")),
        sa.UniqueConstraint(
            "invoice_id", "step_key", name=op.f("uq_collection_messages_invoice_id_step_key")
        ),
    )
    op.create_index("ix_collection_messages_due", "collection_messages", ["status", "deliver_at"])
    op.create_index(
        "ix_collection_messages_customer",
        "collection_messages",
        ["merchant_id", "customer_id", "sent_at"],
    )

    op.create_table(
        "dunning_states",
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("last_attempt_id", sa.String(40), nullable=False),
        sa.Column("payment_method_id", sa.String(40), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", TS, nullable=False),
        sa.Column("decline_type", sa.String(24), nullable=True),
        sa.Column("decline_code", sa.String(60), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("next_retry_at", TS, nullable=True),
        sa.Column("final_action_at", TS, nullable=True),
        sa.Column("final_action", sa.String(20), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        _fk("dunning_states", "invoice_id", "invoices"),
        _fk("dunning_states", "merchant_id", "merchants"),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_dunning_states")),
    )
    op.create_index("ix_dunning_states_final", "dunning_states", ["status", "final_action_at"])
    op.create_index("ix_dunning_states_merchant_id", "dunning_states", ["merchant_id"])

    op.create_table(
        "customer_notes",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        _fk("customer_notes", "merchant_id", "merchants"),
        _fk("customer_notes", "customer_id", "customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_notes")),
    )
    op.create_index("ix_customer_notes_customer", "customer_notes", ["merchant_id", "customer_id"])

    op.create_table(
        "payment_promises",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        _fk("payment_promises", "merchant_id", "merchants"),
        _fk("payment_promises", "customer_id", "customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_promises")),
    )
    op.create_index(
        "ix_payment_promises_customer",
        "payment_promises",
        ["merchant_id", "customer_id", "status"],
    )
    op.create_index("ix_payment_promises_due", "payment_promises", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("payment_promises")
    op.drop_table("customer_notes")
    op.drop_table("dunning_states")
    op.drop_table("collection_messages")
