"""API keys on the request path: `Authorization: Bearer <key>` → the calling client, its organisation and scopes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request
from sqlalchemy import select

from backoffice.api.errors import ApiError
from backoffice.api.ratelimit import check_rate
from backoffice.extensions import db
from backoffice.models import Organisation
from backoffice.models.fines import ApiClient
from backoffice.security import api_route
from backoffice.services.api_clients import ApiIdentity, hash_key

F = TypeVar("F", bound=Callable[..., Any])

# key hash → (identity or None, expiry); per process, so that the hot path of the API
# skips a database round trip. A revoked key stops working everywhere within the TTL
# (FINES_API_KEY_CACHE_SECONDS, 0 disables), at once in the process that revoked it.
_cache: dict[str, tuple[ApiIdentity | None, float]] = {}
_cache_lock = threading.Lock()


def authenticate(authorization: str | None, cache_seconds: float = 0.0) -> ApiIdentity | None:
    """The active client whose key is in `Authorization: Bearer <key>`, or None."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    key = authorization[len("Bearer ") :].strip()
    if not key or len(key) > 200:
        return None
    digest = hash_key(key)
    now = time.monotonic()
    if cache_seconds > 0:
        with _cache_lock:
            cached = _cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
    # Its own short connection, not the session's: the API's request path then never holds
    # a session transaction while it inserts on another connection (models/writes.py).
    with db.engine.connect() as connection:
        row = connection.execute(
            select(ApiClient.id, ApiClient.organisation_id, ApiClient.name, ApiClient.scopes, ApiClient.user_id)
            .join(Organisation, Organisation.id == ApiClient.organisation_id)
            .where(ApiClient.key_hash == digest, ApiClient.active.is_(True), Organisation.active.is_(True))
        ).first()
    identity = (
        ApiIdentity(row.id, row.organisation_id, row.name, frozenset(row.scopes or ()), row.user_id)
        if row is not None
        else None
    )
    if cache_seconds > 0:
        with _cache_lock:
            if len(_cache) > 10_000:
                _cache.clear()
            _cache[digest] = (identity, now + cache_seconds)
    return identity


def forget_cached_keys() -> None:
    """Drop this process's key cache (after a revocation)."""
    with _cache_lock:
        _cache.clear()


def api_key_required(scope: str) -> Callable[[F], F]:
    """The view needs an active API key holding `scope`; it gets the client as first argument.

    401 without a valid key, 403 when the key lacks the scope, 429 past the client's rate,
    all in the API's error shape.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            client = authenticate(
                request.headers.get("Authorization"), current_app.config["FINES_API_KEY_CACHE_SECONDS"]
            )
            if client is None:
                raise ApiError(
                    401,
                    "NON_AUTHENTIFIE",
                    "Clé d'API manquante, invalide ou révoquée (Authorization: Bearer <clé>).",
                    headers={"WWW-Authenticate": 'Bearer realm="amendes"'},
                )
            check_rate(client.id)
            if scope not in client.scopes:
                raise ApiError(
                    403,
                    "ACCES_REFUSE",
                    f"Cette clé d'API ne permet pas cette opération (droit « {scope} » nécessaire).",
                )
            return view(client, *args, **kwargs)

        return api_route(wrapped)  # type: ignore[return-value]

    return decorator
