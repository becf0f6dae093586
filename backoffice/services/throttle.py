"""Counters in Redis that limit how often something may be tried: sign-in, codes, API calls.

One atomic step per attempt: a Lua script increments the counter and sets its expiry on
the first hit, so that 40 requests arriving at once see 1, 2, … 40 and only the first
`limit` go on. Counting in the database after the check let concurrent attempts all read
the same count (18 to 20 password checks for a limit of 5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app
from redis import Redis

# KEYS[1]: the counter; ARGV[1]: the window in seconds. Returns {count, ttl}.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""

PREFIX = "throttle:"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Hit:
    """The outcome of one attempt: allowed or not, and how long until the window ends."""

    allowed: bool
    count: int
    retry_after: int


def _redis() -> Redis:
    app = current_app._get_current_object()
    if "throttle_redis" not in app.extensions:
        app.extensions["throttle_redis"] = Redis.from_url(app.config["REDIS_URL"])
    return app.extensions["throttle_redis"]


def hit(key: str, limit: int, window_seconds: int) -> Hit:
    """Count one attempt under `key`; allowed while the count stays within `limit`."""
    redis = _redis()
    script = current_app.extensions.get("throttle_script")
    if script is None:
        script = current_app.extensions["throttle_script"] = redis.register_script(_HIT)
    count, ttl = script(keys=[PREFIX + key], args=[max(1, int(window_seconds))])
    return Hit(allowed=int(count) <= limit, count=int(count), retry_after=max(1, int(ttl)))


def blocked(key: str, limit: int) -> int:
    """Seconds until `key` may be tried again (0 when it may be tried now), without counting."""
    redis = _redis()
    value = redis.get(PREFIX + key)
    if value is None or int(value) < limit:
        return 0
    return max(1, int(redis.ttl(PREFIX + key)))


def undo(key: str) -> None:
    """Give back one attempt (it turned out to be a success that must not count)."""
    redis = _redis()
    if int(redis.decr(PREFIX + key)) <= 0:
        redis.delete(PREFIX + key)


def reset(*keys: str) -> None:
    """Forget the attempts counted under these keys (after a success, or an admin's reset)."""
    if keys:
        _redis().delete(*(PREFIX + k for k in keys))
