"""negotiation: agreements and their original / new installments

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("payment_method", sa.String(8), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("installment_count", sa.Integer(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("waived_fees", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("restored_amount", sa.BigInteger(), nullable=False),
        sa.Column("break_after_days", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_agreements_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_agreements_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
    )
    op.create_index("ix_agreements_customer", "agreements", ["merchant_id", "customer_id"])
    op.create_index("ix_agreements_status", "agreements", ["status"])
    op.create_table(
        "agreement_invoices",
        sa.Column("agreement_id", sa.String(40), nullable=False),
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_invoices_agreement_id_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_agreement_invoices_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("agreement_id", "invoice_id", name=op.f("pk_agreement_invoices")),
    )
    op.create_index("ix_agreement_invoices_invoice", "agreement_invoices", ["invoice_id"])


def downgrade() -> None:
    op.drop_index("ix_agreement_invoices_invoice", table_name="agreement_invoices")
    op.drop_table("agreement_invoices")
    op.drop_index("ix_agreements_status", table_name="agreements")
    op.drop_index("ix_agreements_customer", table_name="agreements")
    op.drop_table("agreements")
