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


def _json_dumps(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def check_production(settings: dict) -> None:
    """Production refuses settings that would quietly weaken it (finding 7 of the security review)."""
    problems = []
    if settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") and not _bool("ALLOW_SQLITE_IN_PRODUCTION", False):
        problems.append("SQLite (set ALLOW_SQLITE_IN_PRODUCTION=1 to accept it)")
    if not settings["WTF_CSRF_ENABLED"]:
        problems.append("WTF_CSRF_ENABLED off")
    if not settings["SESSION_COOKIE_SECURE"]:
        problems.append("SESSION_COOKIE_SECURE off")
    if not 1 <= settings["LOGIN_MAX_FAILURES"] <= 20 or not 1 <= settings["CODE_MAX_FAILURES"] <= 20:
        problems.append("LOGIN_MAX_FAILURES and CODE_MAX_FAILURES must be between 1 and 20")
    if not 1 <= settings["LOGIN_LOCK_MINUTES"] <= 24 * 60:
        problems.append("LOGIN_LOCK_MINUTES must be between 1 and 1440")
    if not settings["MAIL_SERVER"]:
        problems.append("no MAIL_SERVER (invitations would stay in a local outbox)")
    if problems:
        raise ConfigError("Refused production settings: " + "; ".join(problems))


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
    # JSON columns (audit details, row errors) keep accents as written, so that searches that
    # fold accents (services/search.py) can read them: « décembre », not « d\\u00e9cembre ».
    engine_options["json_serializer"] = _json_dumps

    settings = {
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
        # Second factor (TOTP): mandatory for admins and gestionnaires unless turned off;
        # wrong codes are throttled like passwords; a "fresh" code is at most this old for
        # the acts that ask for one again (approvals, top-ups, API keys, approval rules).
        "TWO_FACTOR_REQUIRED": _bool("TWO_FACTOR_REQUIRED", True),
        "CODE_MAX_FAILURES": _int("CODE_MAX_FAILURES", 5),
        "STEP_UP_MAX_AGE_SECONDS": _int("STEP_UP_MAX_AGE_SECONDS", 300),
        # Sessions end after this long without a request, and after SESSION_LIFETIME_SECONDS anyway.
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30),
        # Client-given URLs (callbacks, webhooks) may reach only public addresses over https,
        # plus these networks (comma-separated CIDRs, e.g. 127.0.0.0/8 for a local receiver).
        "OUTGOING_ALLOWED_NETWORKS": os.environ.get("OUTGOING_ALLOWED_NETWORKS", ""),
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
        # How each partner's writes are repeated after a status "not found": "prompt" (it
        # deduplicates by our id: repeat after FINES_PROMPT_REPEAT_SECONDS) or "grace" (wait
        # FINES_REWRITE_GRACE_SECONDS, for a partner that could not deduplicate).
        "FINES_REGISTRY_REPEAT": os.environ.get("FINES_REGISTRY_REPEAT", "prompt"),
        "MOMO_REPEAT": os.environ.get("MOMO_REPEAT", "prompt"),
        "FINES_PROMPT_REPEAT_SECONDS": _float("FINES_PROMPT_REPEAT_SECONDS", 0.5),
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
        "BATCH_CHUNK_SIZE": _int("BATCH_CHUNK_SIZE", 1000),
        # Transfers in flight per worker: at the adapter's ~50 ms, 48 slots carry ~900/s per worker.
        "BATCH_CONCURRENCY": _int("BATCH_CONCURRENCY", 48),
        # A live job refreshes its lease; a dead one's rows are taken over after this long.
        "BATCH_LEASE_SECONDS": _float("BATCH_LEASE_SECONDS", 10.0),
        "BATCH_SWEEP_SECONDS": _float("BATCH_SWEEP_SECONDS", 5.0),
        # Outcomes are written in groups of this many rows (or every BATCH_FLUSH_SECONDS).
        "BATCH_FLUSH_ROWS": _int("BATCH_FLUSH_ROWS", 100),
        "BATCH_FLUSH_SECONDS": _float("BATCH_FLUSH_SECONDS", 1.0),
        # Settling UNKNOWN rows: GET /transfers/{id} with exponential backoff and a budget.
        "BATCH_STATUS_BACKOFF_SECONDS": _float("BATCH_STATUS_BACKOFF_SECONDS", 1.0),
        "BATCH_STATUS_BACKOFF_MAX_SECONDS": _float("BATCH_STATUS_BACKOFF_MAX_SECONDS", 60.0),
        "BATCH_STATUS_CHECK_BUDGET": _int("BATCH_STATUS_CHECK_BUDGET", 10),
        # "Not found" is trusted only this long after the last send. The switch refuses a second
        # transfer with the same id, so a resend cannot pay twice: the grace only spares attempts
        # (docs/bulk-payments.md, "Why each wait").
        "BATCH_RESEND_GRACE_SECONDS": _float("BATCH_RESEND_GRACE_SECONDS", 3.0),
        "BATCH_MAX_ATTEMPTS": _int("BATCH_MAX_ATTEMPTS", 3),
        # How long a chunk job keeps settling its own UNKNOWN rows before leaving them to the sweep.
        "BATCH_SETTLE_INLINE_SECONDS": _float("BATCH_SETTLE_INLINE_SECONDS", 30.0),
        # A request refused before it left is tried again at once (backoff 0.05 s → 2 s); after
        # this long of refusals the row is left UNKNOWN to settlement.
        "BATCH_UNSENT_GIVE_UP_SECONDS": _float("BATCH_UNSENT_GIVE_UP_SECONDS", 120.0),
        "IMPORT_MAX_BYTES": _int("MAX_UPLOAD_BYTES", 20 * 1024 * 1024),
        "IMPORT_MAX_ROWS": _int("IMPORT_MAX_ROWS", 200_000),
        # Bénin's former 8-digit numbers: sent "as_written" (default) or in their "new" 01 form.
        "BENIN_FORMER_NUMBERS": os.environ.get("BENIN_FORMER_NUMBERS", "as_written"),
        # Payee verification (GET /parties) before approval; see services/bulk/verification.py.
        # Off by default only under APP_ENV=testing, where the tests that verify turn it on.
        "BATCH_VERIFY_REQUIRED": _bool("BATCH_VERIFY_REQUIRED", env != "testing"),
        # Lookups in flight per verification job; one job per VERIFY_CHUNK_SIZE valid rows.
        "VERIFY_CONCURRENCY": _int("VERIFY_CONCURRENCY", 48),
        "VERIFY_CHUNK_SIZE": _int("VERIFY_CHUNK_SIZE", 2500),
        "VERIFY_TIMEOUT_SECONDS": _float("VERIFY_TIMEOUT_SECONDS", 10.0),
        "VERIFY_BACKOFF_SECONDS": _float("VERIFY_BACKOFF_SECONDS", 0.5),
        "VERIFY_RETRY_BUDGET_SECONDS": _float("VERIFY_RETRY_BUDGET_SECONDS", 20.0),
        # Name match score (0-100): at least CONCORDANT is Concordant, below DISCORDANT Discordant.
        "NAME_MATCH_CONCORDANT": _int("NAME_MATCH_CONCORDANT", 85),
        "NAME_MATCH_DISCORDANT": _int("NAME_MATCH_DISCORDANT", 60),
        "PAGE_SIZE": _int("PAGE_SIZE", 25),
        # Time zone of platform admins' pages (members read their organisation's zone).
        "DISPLAY_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "Africa/Porto-Novo"),
        # Reverse proxies in front of the app (X-Forwarded-For/-Proto/-Host trusted from that many
        # hops). 0 = none. Behind one proxy set 1, or every client shares the proxy's address
        # (sign-in lockout per IP, audit IPs).
        "PROXY_FIX_HOPS": _int("PROXY_FIX_HOPS", 0),
        # Bulk payments API (/api/v1/) and its webhooks
        # Requests per API key per minute, counted in Redis across every web process (429 with
        # Retry-After beyond); 30 000/min is the fines API's measured 500 payments/s.
        "API_RATE_LIMIT_PER_MINUTE": _int("API_RATE_LIMIT_PER_MINUTE", 30000),
        "API_IDEMPOTENCY_HOURS": _float("API_IDEMPOTENCY_HOURS", 24.0),
        "API_SSE_MAX_HELD": _int("API_SSE_MAX_HELD", 2),  # long-held event streams per web process
        "API_SSE_HOLD_SECONDS": _float("API_SSE_HOLD_SECONDS", 300.0),
        "WEBHOOK_TIMEOUT_SECONDS": _float("WEBHOOK_TIMEOUT_SECONDS", 10.0),
        "WEBHOOK_RETRY_HOURS": _float("WEBHOOK_RETRY_HOURS", 24.0),
        "WEBHOOK_BACKOFF_BASE_SECONDS": _float("WEBHOOK_BACKOFF_BASE_SECONDS", 5.0),
        "WEBHOOK_DELIVERY_SECONDS": _float("WEBHOOK_DELIVERY_SECONDS", 1.0),
        # Notification emails: seconds between the retries of a send that failed (5 tries).
        "NOTIFICATION_RETRY_SECONDS": [
            int(v) for v in os.environ.get("NOTIFICATION_RETRY_SECONDS", "10,30,60,180,300").split(",") if v.strip()
        ],
    }
    if production:
        check_production(settings)
    return settings
