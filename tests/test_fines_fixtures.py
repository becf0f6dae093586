"""Fixtures of the fines tests: the two partner simulators (real HTTP processes) and helpers.

The simulators run once per session; each test resets them and sets calm, fast faults
unless it asks for worse.
"""

from __future__ import annotations

import atexit
import json
import time

import pytest
import requests

from backoffice import devservers

DEMO_KEY = "demo-amendes-2026"
AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
CALM = {
    "latency_min": 0.002,
    "latency_max": 0.01,
    "fail_rate": 0.0,
    "late_share": 0.0,
    "lost_share": 0.0,
    "late_max": 0.5,
}

# Saga timings scaled down for tests (production defaults are in config.py).
FAST_SAGA = {
    "FINES_HTTP_TIMEOUT_SECONDS": 3.0,
    "FINES_BACKOFF_BASE_SECONDS": 0.05,
    "FINES_BACKOFF_MAX_SECONDS": 0.3,
    "FINES_REWRITE_GRACE_SECONDS": 0.6,
    "FINES_INLINE_WAIT_SECONDS": 1.0,
    "FINES_LEASE_SECONDS": 5.0,
    "FINES_MAX_CHECKS": 60,
    "FINES_BUDGET_SECONDS": 120.0,
    "FINES_SWEEP_SECONDS": 1.0,
}


@pytest.fixture(autouse=True)
def fresh_api_keys():
    """API keys are cached per process for a few seconds; tables are emptied between tests."""
    from backoffice.api.auth import forget_cached_keys

    forget_cached_keys()
    yield
    forget_cached_keys()


class Partner:
    """A running simulator and its admin endpoints."""

    def __init__(self, service: devservers.Service) -> None:
        self.service = service
        self.url = service.url

    def settings(self, **values) -> dict:
        return requests.post(f"{self.url}/_admin/settings", json=values, timeout=5).json()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_admin/stats", timeout=10).json()

    def reset(self) -> None:
        requests.post(f"{self.url}/_admin/reset", timeout=5).raise_for_status()


_STARTED: dict = {}


@pytest.fixture(scope="session")
def partner_services(services):
    """Started once per session, whichever test module asks first (each module imports it)."""
    if not _STARTED:
        options = ["--latency-min", "0.002", "--latency-max", "0.01", "--fail-rate", "0", "--seed", "7"]
        for name in ("fines", "momo"):
            service = devservers.start_simulator(name, options=options)
            _STARTED[name] = Partner(service)
            atexit.register(service.stop)
    return dict(_STARTED)


@pytest.fixture
def partners(app, partner_services):
    """Both simulators, reset and calm; the app (and child processes via env) point at them."""
    for partner in partner_services.values():
        partner.reset()
        partner.settings(**CALM)
    saved = {k: app.config[k] for k in (*FAST_SAGA, "FINES_API_URL", "MOMO_API_URL")}
    app.config.update(FAST_SAGA)
    app.config["FINES_API_URL"] = partner_services["fines"].url
    app.config["MOMO_API_URL"] = partner_services["momo"].url
    yield partner_services
    app.config.update(saved)


def worker_env(partners: dict, **extra) -> dict:
    """Environment of a `flask worker` child that talks to the test simulators, fast timings."""
    env = {k: str(v) for k, v in FAST_SAGA.items()}
    env["FINES_API_URL"] = partners["fines"].url
    env["MOMO_API_URL"] = partners["momo"].url
    env.update({k: str(v) for k, v in extra.items()})
    return env


def body(i: int = 1, **overrides) -> dict:
    """A valid request for seeded citizen i (both of their fines)."""
    from backoffice.simulators.fines import citizens

    citizen = citizens(i)[i - 1]
    data = {
        "reference": f"APP-{i:06d}",
        "telephone": citizen["telephone"],
        "amendes": [f["numero"] for f in citizen["amendes"]],
        "montant": sum(f["montant"] for f in citizen["amendes"]),
        "devise": "XOF",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client, data, headers=None, raw: bytes | None = None, content_type="application/json"):
    return client.post(
        "/amendes/payments/",
        data=raw if raw is not None else json.dumps(data),
        headers={**AUTH, **(headers or {})},
        content_type=content_type,
    )


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")
