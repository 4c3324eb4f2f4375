"""Helpers for the portal's browser tests: Debian's chromium, a served app, axe-core."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import base_env, free_port, process, run_cli, wait_ready

CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(message: str) -> None:
    if CI:
        pytest.fail(message + " (CI=true: this test must run)")
    pytest.skip(message)


def require_chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    if not AXE.exists():
        _missing(f"{AXE} is missing (npm ci --prefix tests/e2e/axe)")


@dataclass
class Served:
    base: str
    headers: dict[str, str]
    merchant_id: str

    def api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = httpx.request(method, self.base + path, headers=self.headers, **kwargs)
        assert response.status_code < 300, response.text
        result: dict[str, Any] = response.json()
        return result


@contextmanager
def served_app(tmp_path: Path, **env: str) -> Iterator[Served]:
    """`billing serve` on a free port with its own SQLite database and the simulated clock;
    ``env`` adds settings (e.g. a Stripe API base)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = base_env(
        BILLING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'portal.sqlite3'}",
        BILLING_SECRET_KEY="portal-browser-secret",
        BILLING_DATA_DIR=str(tmp_path / "data"),
        BILLING_CLOCK="simulated",
        BILLING_BASE_URL=base,
        BILLING_LOG_FORMAT="json",
        **env,
    )
    run_cli(env, "migrate")
    created = json.loads(run_cli(env, "merchant", "create", "--name", "Academia Forte"))
    log = tmp_path / "serve.log"
    with process(env, "serve", "--port", str(port), log=log) as proc:
        wait_ready(base, proc, log)
        yield Served(
            base, {"Authorization": f"Bearer {created['api_key']}"}, created["merchant_id"]
        )


def check_accessibility(page: Any, name: str, exclude: tuple[str, ...] = ()) -> None:
    """axe-core on the current page: no serious or critical violation. ``exclude`` leaves
    out third-party widgets that are not ours to fix (a payment form's own fields)."""
    # Under the page's real Content-Security-Policy an injected <script> is refused: such
    # tests load axe with context.add_init_script(path=AXE) instead.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async (exclude) => await axe.run(
            exclude.length ? {exclude: exclude.map((s) => [s])} : document,
            {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})""",
        list(exclude),
    )
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.axe.json").write_text(json.dumps(result["violations"], indent=1))
    assert not bad, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}" for v in bad
    )


def snapshot(page: Any, name: str, exclude: tuple[str, ...] = ()) -> None:
    """A full-page screenshot kept as a test artifact, then the accessibility check."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    check_accessibility(page, name, exclude)
