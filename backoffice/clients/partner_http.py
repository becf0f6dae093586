"""JSON over HTTP for the fines partners: the raw exchange, where "no answer" is a value, not an exception.

The clients (momo.py, fines_registry.py) turn a `PartnerReply` into their typed results
and keep it in them, for the payment's timeline.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter

_local = threading.local()


def _session() -> requests.Session:
    """One pooled session per thread (requests sessions are not thread-safe)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


@dataclass(frozen=True)
class PartnerReply:
    """What a partner answered. `status` is None when nothing came back (timeout, lost connection)."""

    method: str
    url: str
    status: int | None
    body: dict = field(default_factory=dict)
    error: str | None = None
    elapsed_ms: int = 0

    @property
    def unknown(self) -> bool:
        """The outcome of the call is unknown: no answer, a 504 or any other 5xx."""
        return self.status is None or self.status >= 500

    def trace(self) -> dict:
        """What goes into a payment's timeline."""
        data: dict = {"http": self.status, "ms": self.elapsed_ms}
        if self.body:
            data["corps"] = self.body
        if self.error:
            data["erreur"] = self.error
        return data


def call(method: str, base_url: str, path: str, timeout: float, payload: dict | None = None) -> PartnerReply:
    """Send one request; never raises a requests exception."""
    url = base_url.rstrip("/") + path
    started = time.monotonic()
    try:
        response = _session().request(method, url, json=payload, timeout=(min(5.0, timeout), timeout))
    except requests.Timeout:
        return PartnerReply(method, url, None, error="délai dépassé", elapsed_ms=_ms(started))
    except requests.RequestException as exc:
        return PartnerReply(
            method, url, None, error=f"connexion impossible ({exc.__class__.__name__})", elapsed_ms=_ms(started)
        )
    try:
        body = response.json()
        if not isinstance(body, dict):
            body = {"valeur": body}
    except ValueError:
        body = {"texte": response.text[:300]} if response.text else {}
    return PartnerReply(method, url, response.status_code, body, elapsed_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
