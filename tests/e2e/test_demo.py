"""`billing demo` seeds a merchant with months of history on the embedded default and
prints a key and a portal link that work."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from billing.kit.secrets import hash_token
from tests.e2e.processes import base_env, run_cli

pytestmark = pytest.mark.slow


def test_demo_seeds_history_and_prints_working_credentials(tmp_path: Path) -> None:
    env = base_env(BILLING_DATA_DIR=str(tmp_path / "data"), BILLING_LOG_FORMAT="json")
    out = run_cli(env, "demo", "--no-serve")

    key = re.search(r"API key:\s+(sk_test_\S+)", out)
    portal = re.search(r"Portal:\s+http://127\.0\.0\.1:8000/portal/s/(pl_\S+)", out)
    assert key and portal, out
    assert "Console:" in out

    db = sqlite3.connect(tmp_path / "data" / "billing.sqlite3")
    invoices = db.execute("SELECT count(*), count(DISTINCT customer_id) FROM invoices").fetchone()
    failed = db.execute("SELECT count(*) FROM payment_attempts WHERE status = 'failed'").fetchone()
    paid = db.execute("SELECT count(*) FROM invoices WHERE status = 'paid'").fetchone()
    # Months of history for several payers, with declines to collect and payments made.
    assert invoices[0] >= 20 and invoices[1] >= 6
    assert failed[0] > 0 and paid[0] > 0
    # The printed key is the merchant's (stored hashed), and the portal link is live.
    keys = db.execute("SELECT prefix FROM api_keys").fetchall()
    assert any(key.group(1).startswith(prefix) for (prefix,) in keys)
    links = db.execute("SELECT link_hash FROM portal_sessions WHERE redeemed_at IS NULL").fetchall()
    assert links == [(hash_token(portal.group(1)),)]
