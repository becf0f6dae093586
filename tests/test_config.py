"""Settings: production refuses to start without its secrets; development keeps its own."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

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


def test_environment_overrides(clean_env, monkeypatch):
    monkeypatch.setenv("PAGE_SIZE", "50")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "3")
    settings = load_settings(str(clean_env))
    assert settings["PAGE_SIZE"] == 50
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["LOGIN_MAX_FAILURES"] == 3
