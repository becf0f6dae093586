"""Requests per API client: a token bucket per client in this process.

A stand-in until `backoffice/services/throttle.py` (the per-key limiter shared by every
process) lands: everything goes through `check_rate(client_id)`, so swapping it is one
import. Per process means the real ceiling is the setting times the web workers.
"""

from __future__ import annotations

import math
import threading
import time

from flask import current_app

from backoffice.api.errors import ApiError

_buckets: dict[int, tuple[float, float]] = {}  # client id → (tokens left, when last refilled)
_lock = threading.Lock()


def check_rate(client_id: int) -> None:
    """Take one request from the client's bucket, or refuse with 429 and Retry-After."""
    per_minute = float(current_app.config.get("API_RATE_LIMIT_PER_MINUTE", 30000))
    if per_minute <= 0:
        return
    burst = max(1.0, float(current_app.config.get("API_RATE_LIMIT_BURST", 500)))
    refill = per_minute / 60.0  # tokens per second
    now = time.monotonic()
    with _lock:
        tokens, last = _buckets.get(client_id, (burst, now))
        tokens = min(burst, tokens + (now - last) * refill)
        if tokens < 1.0:
            _buckets[client_id] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / refill)
            raise ApiError(
                429,
                "TROP_DE_REQUETES",
                f"Trop de requêtes pour cette clé d'API : réessayez dans {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        _buckets[client_id] = (tokens - 1.0, now)


def reset() -> None:
    """Forget every bucket (tests)."""
    with _lock:
        _buckets.clear()
