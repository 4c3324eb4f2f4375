"""Invariant 6 in the schema itself: a row that names a merchant and a customer must name a
customer *of that merchant* (migration 0014's composite keys), on both databases, and the
migration keeps the rows a populated database already has."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from billing.db import make_engine
from billing.migrate import upgrade
from tests.conftest import BACKENDS, make_database

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

MERCHANTS = """INSERT INTO merchants (id, name, timezone, currency, created_at)
    VALUES ('mer_a', 'A', 'America/Sao_Paulo', 'BRL', :now),
           ('mer_b', 'B', 'America/Sao_Paulo', 'BRL', :now)"""
CUSTOMERS = """INSERT INTO customers (id, merchant_id, email, name, is_business, locale,
        metadata, created_at)
    VALUES ('cus_a', 'mer_a', 'a@example.com', 'Ana', false, 'pt-BR', '{}', :now),
           ('cus_b', 'mer_b', 'b@example.com', 'Bia', false, 'pt-BR', '{}', :now)"""
INVOICE = """INSERT INTO invoices (id, merchant_id, customer_id, number, status,
        collection_method, currency, subtotal, discount, late_fee, interest, total,
        amount_paid, due_at, attempt_count, created_at)
    VALUES (:id, :merchant, :customer, :number, 'open', 'charge_automatically', 'BRL', 1000,
            0, 0, 0, 1000, 0, :now, 1, :now)"""
MESSAGE = """INSERT INTO collection_messages (id, merchant_id, customer_id, invoice_id,
        step_key, offset_days, channel, template, tone, status, scheduled_at, deliver_at,
        attempts, created_at)
    VALUES (:id, :merchant, :customer, :invoice, '+1:email', 1, 'email', 'overdue', 'friendly',
            'pending', :now, :now, 0, :now)"""
STATE = """INSERT INTO dunning_states (invoice_id, merchant_id, customer_id, last_attempt_id,
        failures, first_failure_at, status, updated_at)
    VALUES (:invoice, :merchant, :customer, 'pay_x', 1, :now, 'retrying', :now)"""


def _run(url: str, statements: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    async def go() -> list[Any]:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                rows = []
                for sql, params in statements:
                    result = await conn.execute(text(sql), {"now": NOW, **params})
                    rows.append(result.all() if result.returns_rows else None)
                return rows
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_customer_of_another_merchant_is_refused(backend: str, tmp_path: Path) -> None:
    db, cleanup = make_database(backend, tmp_path)
    try:
        _run(db.url, [(MERCHANTS, {}), (CUSTOMERS, {})])
        ours = {"merchant": "mer_a", "customer": "cus_a"}
        _run(db.url, [(INVOICE, {"id": "inv_1", "number": 1, **ours})])
        crossed = {"merchant": "mer_a", "customer": "cus_b"}  # Bia belongs to merchant B
        for sql, params in (
            (INVOICE, {"id": "inv_2", "number": 2, **crossed}),
            (MESSAGE, {"id": "msg_1", "invoice": "inv_1", **crossed}),
            (STATE, {"invoice": "inv_1", **crossed}),
        ):
            with pytest.raises(IntegrityError):
                _run(db.url, [(sql, params)])
        # Each refusal wrote nothing; the consistent rows go in.
        _run(db.url, [(MESSAGE, {"id": "msg_1", "invoice": "inv_1", **ours})])
        _run(db.url, [(STATE, {"invoice": "inv_1", **ours})])
        counts = _run(
            db.url,
            [
                ("SELECT count(*) FROM invoices", {}),
                ("SELECT count(*) FROM collection_messages", {}),
                ("SELECT count(*) FROM dunning_states", {}),
            ],
        )
        assert [c[0][0] for c in counts] == [1, 1, 1]
    finally:
        cleanup()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_migration_keeps_existing_rows(backend: str, tmp_path: Path) -> None:
    """SQLite rebuilds invoices (which other tables refer to) to change its keys: a
    database with installments, lines, messages and attempts comes through whole."""
    db, cleanup = make_database(backend, tmp_path, migrate=False)
    try:
        upgrade(db.url, "0013")
        ours = {"merchant": "mer_a", "customer": "cus_a"}
        _run(
            db.url,
            [
                (MERCHANTS, {}),
                (CUSTOMERS, {}),
                (INVOICE, {"id": "inv_1", "number": 1, **ours}),
                (
                    """INSERT INTO invoice_lines (invoice_id, merchant_id, kind, description,
                        amount) VALUES ('inv_1', 'mer_a', 'subscription', 'Mensal', 1000)""",
                    {},
                ),
                (MESSAGE, {"id": "msg_1", "invoice": "inv_1", **ours}),
                (STATE, {"invoice": "inv_1", **ours}),
            ],
        )
        upgrade(db.url)
        counts = _run(
            db.url,
            [
                (f"SELECT count(*) FROM {table}", {})
                for table in ("invoices", "invoice_lines", "collection_messages", "dunning_states")
            ],
        )
        assert [c[0][0] for c in counts] == [1, 1, 1, 1]
        # And the keys are enforced again once the migration is done.
        with pytest.raises(IntegrityError):
            _run(db.url, [(INVOICE, {"id": "inv_2", "number": 2, "merchant": "mer_a",
                                     "customer": "cus_b"})])  # fmt: skip
    finally:
        cleanup()
