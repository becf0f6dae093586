"""Settings read from the environment (a `.env` file is read in development).

Production (APP_ENV=production) refuses to start without SECRET_KEY and DATABASE_URL;
development generates a secret key once and keeps it under instance/.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


class ConfigError(RuntimeError):
    """Raised when a required production setting is missing."""


def _development_secret(instance_path: Path) -> str:
    """Generate the development secret once and keep it, so sessions survive restarts."""
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def load_settings(instance_path: str) -> dict:
    """Build the Flask configuration mapping from the environment."""
    env = os.environ.get("APP_ENV", "development").lower()
    production = env == "production"
    instance = Path(instance_path)

    secret = os.environ.get("SECRET_KEY", "")
    database_url = os.environ.get("DATABASE_URL", "")
    if production:
        missing = [n for n, v in (("SECRET_KEY", secret), ("DATABASE_URL", database_url)) if not v]
        if missing:
            raise ConfigError(f"Missing required production settings: {', '.join(missing)}")
        if len(secret) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
    if not secret:
        secret = _development_secret(instance)
    if not database_url:
        instance.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{instance / 'backoffice.db'}"

    engine_options: dict = {"pool_pre_ping": True}
    if database_url.startswith("sqlite"):
        engine_options = {"connect_args": {"timeout": 30}}

    return {
        "APP_ENV": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "RQ_QUEUE": os.environ.get("RQ_QUEUE", "backoffice"),
        # Session cookie: HttpOnly and SameSite always, Secure outside development.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", env not in {"development", "testing"}),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": _int("SESSION_LIFETIME_SECONDS", 8 * 3600),
        "WTF_CSRF_ENABLED": _bool("WTF_CSRF_ENABLED", True),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "MAX_CONTENT_LENGTH": _int("MAX_UPLOAD_BYTES", 20 * 1024 * 1024) + 64 * 1024,
        "PASSWORD_HASH_METHOD": os.environ.get("PASSWORD_HASH_METHOD", "scrypt"),
        # Sign-in throttling
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCK_MINUTES": _int("LOGIN_LOCK_MINUTES", 15),
        # Mail: SMTP when MAIL_SERVER is set, otherwise .eml files in MAIL_OUTBOX.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", False),
        "MAIL_SENDER": os.environ.get("MAIL_SENDER", "backoffice@localhost"),
        "MAIL_OUTBOX": os.environ.get("MAIL_OUTBOX", str(instance / "outbox")),
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "http://localhost:8080"),
        # Partners
        "MOJALOOP_SDK_URL": os.environ.get("MOJALOOP_SDK_URL", "http://127.0.0.1:4001"),
        "MOJALOOP_AUTO_ACCEPT": _bool("MOJALOOP_AUTO_ACCEPT", True),
        "MOJALOOP_TIMEOUT_SECONDS": _float("MOJALOOP_TIMEOUT_SECONDS", 35.0),
        "FINES_API_URL": os.environ.get("FINES_API_URL", "http://127.0.0.1:4101"),
        "MOMO_API_URL": os.environ.get("MOMO_API_URL", "http://127.0.0.1:4102"),
        # Fines payments (see backoffice/services/fines/saga.py for how each one is used)
        "FINES_HTTP_TIMEOUT_SECONDS": _float("FINES_HTTP_TIMEOUT_SECONDS", 15.0),
        "FINES_BACKOFF_BASE_SECONDS": _float("FINES_BACKOFF_BASE_SECONDS", 1.0),
        "FINES_BACKOFF_MAX_SECONDS": _float("FINES_BACKOFF_MAX_SECONDS", 30.0),
        "FINES_REWRITE_GRACE_SECONDS": _float("FINES_REWRITE_GRACE_SECONDS", 75.0),
        "FINES_BUDGET_SECONDS": _float("FINES_BUDGET_SECONDS", 1800.0),
        "FINES_MAX_CHECKS": _int("FINES_MAX_CHECKS", 60),
        "FINES_LEASE_SECONDS": _float("FINES_LEASE_SECONDS", 60.0),
        "FINES_INLINE_WAIT_SECONDS": _float("FINES_INLINE_WAIT_SECONDS", 0.5),
        "FINES_SWEEP_SECONDS": _float("FINES_SWEEP_SECONDS", 30.0),
        "FINES_DISPATCH_SECONDS": _float("FINES_DISPATCH_SECONDS", 0.2),
        "FINES_CALLBACK_MAX_ATTEMPTS": _int("FINES_CALLBACK_MAX_ATTEMPTS", 8),
        "FINES_CALLBACK_TIMEOUT_SECONDS": _float("FINES_CALLBACK_TIMEOUT_SECONDS", 10.0),
        "FINES_API_MAX_BODY_BYTES": _int("FINES_API_MAX_BODY_BYTES", 16 * 1024),
        "FINES_API_MAX_FINES": _int("FINES_API_MAX_FINES", 20),
        "FINES_API_KEY_CACHE_SECONDS": _float("FINES_API_KEY_CACHE_SECONDS", 5.0),
        "FINES_CURRENCIES": [c.strip() for c in os.environ.get("FINES_CURRENCIES", "XOF").split(",") if c.strip()],
        # Bulk processing
        "BATCH_CHUNK_SIZE": _int("BATCH_CHUNK_SIZE", 200),
        "BATCH_CONCURRENCY": _int("BATCH_CONCURRENCY", 16),
        # A live job refreshes its lease; a dead one's rows are taken over after this long.
        "BATCH_LEASE_SECONDS": _float("BATCH_LEASE_SECONDS", 30.0),
        "BATCH_SWEEP_SECONDS": _float("BATCH_SWEEP_SECONDS", 15.0),
        # Outcomes are written in groups of this many rows (or every BATCH_FLUSH_SECONDS).
        "BATCH_FLUSH_ROWS": _int("BATCH_FLUSH_ROWS", 100),
        "BATCH_FLUSH_SECONDS": _float("BATCH_FLUSH_SECONDS", 1.0),
        # Settling UNKNOWN rows: GET /transfers/{id} with exponential backoff and a budget.
        "BATCH_STATUS_BACKOFF_SECONDS": _float("BATCH_STATUS_BACKOFF_SECONDS", 1.0),
        "BATCH_STATUS_BACKOFF_MAX_SECONDS": _float("BATCH_STATUS_BACKOFF_MAX_SECONDS", 60.0),
        "BATCH_STATUS_CHECK_BUDGET": _int("BATCH_STATUS_CHECK_BUDGET", 10),
        # "Not found" is trusted only this long after the last send (> the adapter's 30 s timeout).
        "BATCH_RESEND_GRACE_SECONDS": _float("BATCH_RESEND_GRACE_SECONDS", 60.0),
        "BATCH_MAX_ATTEMPTS": _int("BATCH_MAX_ATTEMPTS", 3),
        # How long a chunk job keeps settling its own UNKNOWN rows before leaving them to the sweep.
        "BATCH_SETTLE_INLINE_SECONDS": _float("BATCH_SETTLE_INLINE_SECONDS", 30.0),
        "IMPORT_MAX_BYTES": _int("MAX_UPLOAD_BYTES", 20 * 1024 * 1024),
        "IMPORT_MAX_ROWS": _int("IMPORT_MAX_ROWS", 200_000),
        "PAGE_SIZE": _int("PAGE_SIZE", 25),
        # Reverse proxies in front of the app (X-Forwarded-For/-Proto/-Host trusted from that many
        # hops). 0 = none. Behind one proxy set 1, or every client shares the proxy's address
        # (sign-in lockout per IP, audit IPs).
        "PROXY_FIX_HOPS": _int("PROXY_FIX_HOPS", 0),
        # Bulk payments API (/api/v1/) and its webhooks
        "API_RATE_LIMIT_PER_MINUTE": _int("API_RATE_LIMIT_PER_MINUTE", 30000),
        "API_RATE_LIMIT_BURST": _int("API_RATE_LIMIT_BURST", 500),
        "API_IDEMPOTENCY_HOURS": _float("API_IDEMPOTENCY_HOURS", 24.0),
        "API_SSE_MAX_HELD": _int("API_SSE_MAX_HELD", 2),  # long-held event streams per web process
        "API_SSE_HOLD_SECONDS": _float("API_SSE_HOLD_SECONDS", 300.0),
        "WEBHOOK_ALLOW_PRIVATE_URLS": _bool("WEBHOOK_ALLOW_PRIVATE_URLS", env in ("development", "testing")),
        "WEBHOOK_TIMEOUT_SECONDS": _float("WEBHOOK_TIMEOUT_SECONDS", 10.0),
        "WEBHOOK_RETRY_HOURS": _float("WEBHOOK_RETRY_HOURS", 24.0),
        "WEBHOOK_BACKOFF_BASE_SECONDS": _float("WEBHOOK_BACKOFF_BASE_SECONDS", 5.0),
        "WEBHOOK_DELIVERY_SECONDS": _float("WEBHOOK_DELIVERY_SECONDS", 1.0),
        # Notification emails: seconds between the retries of a send that failed (5 tries).
        "NOTIFICATION_RETRY_SECONDS": [
            int(v) for v in os.environ.get("NOTIFICATION_RETRY_SECONDS", "10,30,60,180,300").split(",") if v.strip()
        ],
    }
