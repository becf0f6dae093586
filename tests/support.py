"""Test support that is not data: the simulators' processes and admin controls, app settings, waits.

The test data builders are in tests/factories.py; the pytest fixtures in tests/conftest.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from backoffice import devservers
from backoffice.extensions import db

# The Mojaloop SDK adapter simulator ----------------------------------------------------------


def start_mojaloop_simulator(*options: str) -> devservers.Service:
    """`flask simulate mojaloop` on a free port (a real process, over HTTP)."""
    return devservers.start_simulator("mojaloop", options=list(options))


class Sim:
    """Talks to a running Mojaloop simulator's admin API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def reset(self, **settings) -> None:
        """Forget every transfer and count; no latency or faults unless `settings` ask for some."""
        requests.post(f"{self.url}/__admin/reset", timeout=5).raise_for_status()
        base = {
            "latency_ms": 0,
            "auto_accept": True,
            "fee": "0",
            "commit_delay_ms": 0,
            "hang_ms": 3000,
            "not_found_rate": 0.0,
            "reject_rate": 0.0,
            "timeout_rate": 0.0,
            "hang_rate": 0.0,
            "refuse_rate": 0.0,
            "close_rate": 0.0,
        }
        self.configure(**{**base, **settings})

    def configure(self, **settings) -> dict:
        response = requests.post(f"{self.url}/__admin/config", json=settings, timeout=5)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/__admin/stats", timeout=30).json()

    def outage(self, ms: float, mode: str = "refuse") -> None:
        """For `ms`, refuse connections (nothing listens) or read requests and never answer."""
        requests.post(f"{self.url}/__admin/outage", json={"ms": ms, "mode": mode}, timeout=5).raise_for_status()


# Processing settings scaled down for tests: small chunks and groups, short backoffs and leases.
FAST_PROCESSING = {
    "BATCH_CHUNK_SIZE": 4,
    "BATCH_CONCURRENCY": 4,
    "BATCH_FLUSH_ROWS": 3,
    "BATCH_FLUSH_SECONDS": 0.2,
    "BATCH_STATUS_BACKOFF_SECONDS": 0.1,
    "BATCH_STATUS_BACKOFF_MAX_SECONDS": 0.3,
    "BATCH_STATUS_CHECK_BUDGET": 5,
    "BATCH_RESEND_GRACE_SECONDS": 0.3,
    "BATCH_SETTLE_INLINE_SECONDS": 10,
    "BATCH_LEASE_SECONDS": 2,
    "MOJALOOP_TIMEOUT_SECONDS": 5,
    "MOJALOOP_AUTO_ACCEPT": True,
}


@contextmanager
def configured_app(app, settings: dict, sdk_url: str) -> Iterator:
    """An app context with these settings and the simulator as SDK adapter; restored afterwards."""
    saved = {k: app.config.get(k) for k in [*settings, "MOJALOOP_SDK_URL"]}
    app.config.update(settings, MOJALOOP_SDK_URL=sdk_url)
    try:
        with app.app_context():
            yield app
            db.session.remove()
    finally:  # a failing test must not leave its settings to the next ones
        app.config.update(saved)


def run_jobs(app) -> None:
    """Run the queued jobs in this process, like `flask worker --burst` would."""
    from rq import SimpleWorker

    queue = app.get_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True, logging_level="WARNING")


# The fines partners' simulators and the fines API ----------------------------------------------

DEMO_KEY = "demo-amendes-2026"
AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
# Partner settings for calm, fast tests: a test that wants faults asks for them.
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


class Partner:
    """A running fines partner simulator (registry or mobile money) and its admin endpoints."""

    def __init__(self, service: devservers.Service) -> None:
        self.service = service
        self.url = service.url

    def settings(self, **values) -> dict:
        return requests.post(f"{self.url}/_admin/settings", json=values, timeout=5).json()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_admin/stats", timeout=10).json()

    def reset(self) -> None:
        requests.post(f"{self.url}/_admin/reset", timeout=5).raise_for_status()


def worker_env(partners: dict, **extra) -> dict:
    """Environment of a `flask worker` child that talks to the test simulators, fast timings."""
    env = {k: str(v) for k, v in FAST_SAGA.items()}
    env["FINES_API_URL"] = partners["fines"].url
    env["MOMO_API_URL"] = partners["momo"].url
    env.update({k: str(v) for k, v in extra.items()})
    return env


def post(client, data, headers=None, raw: bytes | None = None, content_type="application/json"):
    """POST a fines payment request to the API with the demo key (or `raw` bytes as the body)."""
    return client.post(
        "/amendes/payments/",
        data=raw if raw is not None else json.dumps(data),
        headers={**AUTH, **(headers or {})},
        content_type=content_type,
    )


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.2, message: str = "condition"):
    """The predicate's first truthy value, polled every `interval`; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def kill_hard(process) -> None:
    """SIGKILL, no cleanup at all; its RQ scheduler child dies with it, as on a lost machine."""
    import os
    import signal
    import subprocess

    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    process.kill()
    process.wait()
    for child in children:
        try:
            os.kill(int(child), signal.SIGKILL)
        except ProcessLookupError:
            pass
