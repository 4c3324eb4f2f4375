"""one attached row per (customer, gateway payment method)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 20:00:00

Two completions of one card setup (the portal's POST twice at once, or the POST and the
``setup_intent.succeeded`` webhook) could each find no saved row and both insert one. A
unique index on ``(customer_id, gateway_ref)`` makes the second insert fail, and the
attach path answers it like a replay. Removing a method keeps its row with
``detached_at`` set, so the index covers attached rows only: a removed card never blocks
saving the same gateway method again.

Rows saved twice before this revision would stop the index from being built. The oldest
attached row of each pair is kept; subscriptions using a younger copy move to it (and it
becomes the default if a copy was), and the copies are marked detached: nothing is
deleted, payment attempts still name the row they used.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ATTACHED = sa.text("detached_at IS NULL")

# An attached row with an older attached row of the same customer and gateway method.
_COPY = """
    pm.detached_at IS NULL AND EXISTS (
        SELECT 1 FROM payment_methods older
        WHERE older.customer_id = pm.customer_id AND older.gateway_ref = pm.gateway_ref
          AND older.detached_at IS NULL AND older.id < pm.id)
"""
_KEPT = """
    (SELECT MIN(kept.id) FROM payment_methods kept
     WHERE kept.customer_id = pm.customer_id AND kept.gateway_ref = pm.gateway_ref
       AND kept.detached_at IS NULL)
"""


def _merge_copies() -> None:
    op.execute(
        sa.text(
            f"""
            UPDATE subscriptions SET payment_method_id = (
                SELECT {_KEPT} FROM payment_methods pm
                WHERE pm.id = subscriptions.payment_method_id)
            WHERE payment_method_id IN (SELECT pm.id FROM payment_methods pm WHERE {_COPY})
            """
        )
    )
    op.execute(
        sa.text(
            f"""
            UPDATE payment_methods SET is_default = :yes
            WHERE id IN (SELECT {_KEPT} FROM payment_methods pm
                         WHERE {_COPY} AND pm.is_default = :yes)
            """
        ).bindparams(yes=True)
    )
    op.execute(
        sa.text(
            f"""
            UPDATE payment_methods SET detached_at = CURRENT_TIMESTAMP, is_default = :no
            WHERE id IN (SELECT pm.id FROM payment_methods pm WHERE {_COPY})
            """
        ).bindparams(no=False)
    )


def upgrade() -> None:
    _merge_copies()
    op.create_index(
        "uq_payment_methods_customer_id_gateway_ref",
        "payment_methods",
        ["customer_id", "gateway_ref"],
        unique=True,
        postgresql_where=ATTACHED,
        sqlite_where=ATTACHED,
    )


def downgrade() -> None:
    op.drop_index("uq_payment_methods_customer_id_gateway_ref", table_name="payment_methods")
