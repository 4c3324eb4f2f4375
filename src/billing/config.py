"""Settings from the environment: one cached object, documented in the README."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


STRIPE_JS_URL = "https://js.stripe.com/v3/"


def _stripe_js_url(url: str | None) -> str:
    # It becomes a script origin in the card page's Content-Security-Policy.
    if not url or not url.startswith(("https://", "http://")):
        raise ValueError("BILLING_STRIPE_JS_URL must be an http(s) URL")
    return url


def _data_dir() -> Path:
    return Path(_env("BILLING_DATA_DIR", "data") or "data").resolve()


def _secret_key(data_dir: Path) -> str:
    """The key that encrypts stored secrets; generated once and kept in the data directory."""
    configured = _env("BILLING_SECRET_KEY")
    if configured:
        return configured
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # Create exclusively so two processes starting together agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None = None
    clock: str = "system"
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    data_dir: Path = field(default_factory=_data_dir)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "billing@localhost"
    # Without SMTP: a folder e-mails are written to as .eml files (the quick start's).
    email_outbox: Path | None = None
    gateway: str = "sandbox"
    stripe_api_base: str | None = None
    # A deployment-wide Stripe endpoint secret, accepted besides each merchant's own.
    stripe_webhook_secret: str | None = None
    # A deployment-wide publishable key, paired with BILLING_STRIPE_SECRET_KEY (same account).
    stripe_publishable_key: str | None = None
    # Where the portal's card page loads Stripe.js from (tests serve localstripe's copy).
    stripe_js_url: str = STRIPE_JS_URL
    log_format: str = "auto"
    scheduler_interval: float = 5.0
    # Database connections one process keeps; reading requests beyond it queue, first come
    # first served (Runtime.request_slots), instead of opening and closing overflow ones.
    db_pool_size: int = 20

    @property
    def embedded_queue(self) -> bool:
        return self.redis_url is None

    @property
    def simulated_clock(self) -> bool:
        return self.clock == "simulated"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = _data_dir()
        default_db = f"sqlite+aiosqlite:///{data_dir / 'billing.sqlite3'}"
        clock = _env("BILLING_CLOCK", "system") or "system"
        if clock not in ("system", "simulated"):
            raise ValueError("BILLING_CLOCK must be 'system' or 'simulated'")
        gateway = _env("BILLING_GATEWAY", "sandbox") or "sandbox"
        if gateway not in ("sandbox", "stripe"):
            raise ValueError("BILLING_GATEWAY must be 'sandbox' or 'stripe'")
        return cls(
            database_url=normalize_database_url(_env("BILLING_DATABASE_URL", default_db) or ""),
            redis_url=_env("BILLING_REDIS_URL"),
            clock=clock,
            secret_key=_secret_key(data_dir),
            base_url=(_env("BILLING_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/"),
            data_dir=data_dir,
            smtp_host=_env("BILLING_SMTP_HOST"),
            smtp_port=int(_env("BILLING_SMTP_PORT", "25") or 25),
            smtp_username=_env("BILLING_SMTP_USERNAME"),
            smtp_password=_env("BILLING_SMTP_PASSWORD"),
            smtp_from=_env("BILLING_SMTP_FROM", "billing@localhost") or "billing@localhost",
            email_outbox=_folder("BILLING_EMAIL_OUTBOX"),
            gateway=gateway,
            stripe_api_base=_env("BILLING_STRIPE_API_BASE"),
            stripe_webhook_secret=_env("BILLING_STRIPE_WEBHOOK_SECRET"),
            stripe_publishable_key=_env("BILLING_STRIPE_PUBLISHABLE_KEY"),
            stripe_js_url=_stripe_js_url(_env("BILLING_STRIPE_JS_URL", STRIPE_JS_URL)),
            log_format=_env("BILLING_LOG_FORMAT", "auto") or "auto",
            scheduler_interval=float(_env("BILLING_SCHEDULER_INTERVAL", "5") or 5),
            db_pool_size=_positive_int("BILLING_DB_POOL_SIZE", 20),
        )


def _folder(name: str) -> Path | None:
    raw = _env(name)
    return Path(raw).resolve() if raw else None


def _positive_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1")
    return int(raw)


def normalize_database_url(url: str) -> str:
    """Accept the plain URLs operators paste and pick the async drivers we ship."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        url = "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
