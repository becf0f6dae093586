"""Requests per API client, counted in Redis across every web process (services/throttle.py).

A limit protects the service, it holds no money: when Redis cannot be reached the request
goes on (the fines API must still accept payments then, see docs/fines-saga.md) and the
failure is logged.
"""

from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError

from backoffice.api.errors import ApiError
from backoffice.services import throttle

log = logging.getLogger(__name__)


def check_rate(client_id: int) -> None:
    """Count one request of the client, or refuse with 429 and Retry-After beyond the limit."""
    per_minute = int(current_app.config.get("API_RATE_LIMIT_PER_MINUTE", 30000))
    if per_minute <= 0:
        return
    try:
        outcome = throttle.hit(f"api:{client_id}", per_minute, 60)
    except RedisError:
        log.warning("API rate limit not checked: Redis unreachable", exc_info=True)
        return
    if not outcome.allowed:
        raise ApiError(
            429,
            "TROP_DE_REQUETES",
            f"Trop de requêtes pour cette clé d'API : réessayez dans {outcome.retry_after} s.",
            headers={"Retry-After": str(outcome.retry_after)},
        )


def reset() -> None:
    """Forget every client's count (tests; outside an app context there is nothing to reach)."""
    from flask import has_app_context

    if not has_app_context():
        return
    redis = throttle._redis()
    for key in redis.scan_iter(match=f"{throttle.PREFIX}api:*"):
        redis.delete(key)
