"""Settings: production refuses to start without its secrets; development keeps its own."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from backoffice.config import ConfigError, load_settings
from tests.conftest import ROOT, flask_command

LONG_SECRET = "s" * 48


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No settings from the test session leak into the ones under test."""
    for name in list(os.environ):
        if name in {"SECRET_KEY", "DATABASE_URL", "APP_ENV", "SESSION_COOKIE_SECURE", "MAIL_OUTBOX"}:
            monkeypatch.delenv(name)
    return tmp_path


def test_production_without_secret_or_database_refuses(clean_env, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY, DATABASE_URL"):
        load_settings(str(clean_env))
    monkeypatch.setenv("SECRET_KEY", LONG_SECRET)
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(str(clean_env))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u@db/backoffice")
    monkeypatch.setenv("SECRET_KEY", "trop-court")
    with pytest.raises(ConfigError, match="at least 32"):
        load_settings(str(clean_env))
    # Nothing was written under instance/ for production.
    assert not (clean_env / "secret_key").exists()


def test_production_settings(clean_env, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", LONG_SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u@db/backoffice")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    settings = load_settings(str(clean_env))
    assert settings["SECRET_KEY"] == LONG_SECRET
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True and settings["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert settings["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True


def test_production_process_refuses_to_start(clean_env):
    """A real `flask` process with APP_ENV=production and no secrets stops with a clear error."""
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
    env.update(APP_ENV="production", INSTANCE_PATH=str(clean_env))
    result = subprocess.run(flask_command("routes"), cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Missing required production settings: SECRET_KEY, DATABASE_URL" in result.stderr


def test_development_generates_and_keeps_a_secret(clean_env):
    first = load_settings(str(clean_env))
    key_file = clean_env / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first["SECRET_KEY"]) >= 32
    second = load_settings(str(clean_env))
    assert second["SECRET_KEY"] == first["SECRET_KEY"]
    # Development defaults: SQLite under instance/, cookies not Secure (plain http://localhost).
    assert first["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{clean_env / 'backoffice.db'}"
    assert first["SESSION_COOKIE_SECURE"] is False
    assert first["MAIL_OUTBOX"] == str(clean_env / "outbox")


def test_cookies_are_secure_outside_development(clean_env, monkeypatch):
    monkeypatch.setenv("APP_ENV", "staging")
    assert load_settings(str(clean_env))["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("APP_ENV", "testing")
    assert load_settings(str(clean_env))["SESSION_COOKIE_SECURE"] is False


def test_environment_overrides(clean_env, monkeypatch):
    monkeypatch.setenv("PAGE_SIZE", "50")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "3")
    settings = load_settings(str(clean_env))
    assert settings["PAGE_SIZE"] == 50
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["LOGIN_MAX_FAILURES"] == 3


def test_proxy_fix_trusts_the_configured_hops(app, demo):
    """Behind one reverse proxy the client's address (X-Forwarded-For) is the one throttled."""
    from backoffice import create_app
    from backoffice.extensions import db
    from backoffice.models import LoginFailure

    proxied = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "PROXY_FIX_HOPS": 1})
    client = proxied.test_client()
    client.post(
        "/connexion",
        data={"email": "gestionnaire1@cnss.bj", "password": "faux"},
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    with proxied.app_context():
        assert db.session.scalars(select(LoginFailure.ip)).all() == ["203.0.113.7"]
    # Without the setting, the header is ignored (a client could forge it).
    app.test_client().post(
        "/connexion",
        data={"email": "gestionnaire1@cnss.bj", "password": "faux"},
        headers={"X-Forwarded-For": "198.51.100.1"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    with app.app_context():
        assert sorted(db.session.scalars(select(LoginFailure.ip)).all()) == ["10.0.0.2", "203.0.113.7"]


def test_compose_describes_production():
    """docker-compose.yml: web, worker, one-shot migration, PostgreSQL 15, Redis 7, no secret defaults."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"web", "worker", "migrate", "db", "redis"}
    assert services["db"]["image"] == "postgres:15" and services["redis"]["image"] == "redis:7"
    # Finding 4: gunicorn is not published; Caddy (TLS) is the only way in, the one hop trusted.
    assert "ports" not in services["web"] and services["web"]["expose"] == ["8080"]
    assert services["web"]["environment"]["PROXY_FIX_HOPS"] == 1
    assert services["proxy"]["image"] == "caddy:2" and services["proxy"]["ports"] == ["80:80", "443:443"]
    assert "reverse_proxy web:8080" in (ROOT / "deploy" / "Caddyfile").read_text()
    for name in ("web", "worker", "migrate"):
        env = services[name]["environment"]
        assert env["APP_ENV"] == "production"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), "no default for the secret"
        assert ":?" in env["DATABASE_URL"]
    assert services["worker"]["command"] == ["worker"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM node:" in dockerfile and "htmx.org" in dockerfile and "npm ci" in dockerfile
    entrypoint = (ROOT / "scripts" / "docker-entrypoint.sh").read_text()
    assert "exec flask worker" in entrypoint and "exec flask db upgrade" in entrypoint and "gunicorn" in entrypoint


def test_every_setting_is_documented():
    """Each environment variable read by config.py has a row in the README's configuration table."""
    import re

    source = (ROOT / "backoffice" / "config.py").read_text()
    names = set(re.findall(r'(?:os\.environ\.get|_int|_bool|_float)\(\s*"([A-Z][A-Z0-9_]+)"', source))
    readme = (ROOT / "README.md").read_text()
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing, f"add these settings to README.md (Configuration): {missing}"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("DATABASE_URL", "sqlite:////tmp/prod.db", "SQLite"),
        ("WTF_CSRF_ENABLED", "0", "WTF_CSRF_ENABLED off"),
        ("SESSION_COOKIE_SECURE", "0", "SESSION_COOKIE_SECURE off"),
        ("LOGIN_MAX_FAILURES", "1000", "LOGIN_MAX_FAILURES"),
        ("LOGIN_LOCK_MINUTES", "0", "LOGIN_LOCK_MINUTES"),
        ("MAIL_SERVER", "", "MAIL_SERVER"),
    ],
)
def test_production_refuses_weak_settings(clean_env, monkeypatch, name, value, words):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", LONG_SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u@db/backoffice")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    load_settings(str(clean_env))  # the sound settings start
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=words):
        load_settings(str(clean_env))


def test_outbox_files_are_private(app):
    from backoffice.services.mail import outbox_messages, send_email

    with app.app_context():
        send_email("a@b.bj", "Invitation", "https://exemple/invitation/secret")
        assert outbox_messages()
    [path] = list(Path(app.config["MAIL_OUTBOX"]).glob("*.eml"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_seed_demo_refuses_production(app):
    from backoffice.services import ServiceError
    from backoffice.services.demo import seed_demo

    app.config["APP_ENV"] = "production"
    try:
        with app.app_context(), pytest.raises(ServiceError, match="refusées en production"):
            seed_demo()
    finally:
        app.config["APP_ENV"] = "testing"


def test_make_run_binds_to_this_machine_by_default():
    source = (ROOT / "scripts" / "run.py").read_text()
    assert 'WEB_HOST = os.environ.get("WEB_HOST", "127.0.0.1")' in source
    assert '"0.0.0.0' not in source


def test_sqlite_in_production_only_when_allowed(clean_env, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", LONG_SECRET)
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/prod.db")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("ALLOW_SQLITE_IN_PRODUCTION", "1")
    assert load_settings(str(clean_env))["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
