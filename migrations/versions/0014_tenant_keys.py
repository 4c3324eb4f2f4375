"""tenant-consistent foreign keys; a lighter dunning index

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 19:30:00

An installment, an outbox message and a dunning state each carry the merchant and the
customer. Two separate foreign keys (to merchants, to customers) let a row pair a customer
with another merchant; one composite key to ``customers (id, merchant_id)`` cannot, and is
one check per inserted row instead of two (the billing run and the ruler insert hundreds
of thousands). ``ix_dunning_states_final`` now holds only the states that wait for a final
action, not every installment being retried.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("final_action IS NULL AND status IN ('exhausted', 'awaiting_payer')")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.create_unique_constraint("uq_customers_id_merchant_id", ["id", "merchant_id"])
    for table, drop in (
        ("invoices", ["customer_id", "merchant_id"]),
        ("collection_messages", ["customer_id", "merchant_id"]),
        ("dunning_states", ["merchant_id"]),
    ):
        with op.batch_alter_table(table) as batch:
            for column in drop:
                referred = "customers" if column == "customer_id" else "merchants"
                batch.drop_constraint(f"fk_{table}_{column}_{referred}", type_="foreignkey")
            batch.create_foreign_key(
                f"fk_{table}_customer_id_customers",
                "customers",
                ["customer_id", "merchant_id"],
                ["id", "merchant_id"],
            )
    op.drop_index("ix_dunning_states_final", table_name="dunning_states")
    op.create_index(
        "ix_dunning_states_final",
        "dunning_states",
        ["final_action_at"],
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_dunning_states_final", table_name="dunning_states")
    op.create_index("ix_dunning_states_final", "dunning_states", ["status", "final_action_at"])
    for table, restore in (
        ("dunning_states", ["merchant_id"]),
        ("collection_messages", ["customer_id", "merchant_id"]),
        ("invoices", ["customer_id", "merchant_id"]),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_customer_id_customers", type_="foreignkey")
            for column in restore:
                referred = "customers" if column == "customer_id" else "merchants"
                batch.create_foreign_key(
                    f"fk_{table}_{column}_{referred}", referred, [column], ["id"]
                )
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint("uq_customers_id_merchant_id", type_="unique")
