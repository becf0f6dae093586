"""API keys of client applications: created and revoked by an admin, only their hash stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Organisation, User
from backoffice.models.base import utcnow
from backoffice.models.fines import ApiClient
from backoffice.services import PermissionDenied, ServiceError, audit

DEMO_CLIENT_NAME = "Appli Citoyen"
DEMO_CLIENT_KEY = "demo-amendes-2026"
DEMO_CLIENT_SECRET = "demo-secret-amendes-2026"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def sign(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of a callback body under the client's secret, as sent in X-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ApiIdentity:
    """Who is calling the API: what a request needs of its ApiClient, cheap to cache."""

    id: int
    organisation_id: int
    name: str


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
            select(ApiClient.id, ApiClient.organisation_id, ApiClient.name)
            .join(Organisation, Organisation.id == ApiClient.organisation_id)
            .where(ApiClient.key_hash == digest, ApiClient.active.is_(True), Organisation.active.is_(True))
        ).first()
    identity = ApiIdentity(row.id, row.organisation_id, row.name) if row is not None else None
    if cache_seconds > 0:
        with _cache_lock:
            if len(_cache) > 10_000:
                _cache.clear()
            _cache[digest] = (identity, now + cache_seconds)
    return identity


def forget_cached_keys() -> None:
    with _cache_lock:
        _cache.clear()


def create_client(
    actor: User | None, organisation_id: int, name: str, key: str | None = None, secret: str | None = None
) -> tuple[ApiClient, str, str]:
    """A new client; returns it with its key and signing secret (shown once, never stored in clear for the key)."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("Seul un administrateur peut créer une clé d'API.")
    name = (name or "").strip()
    if not name:
        raise ServiceError("Le nom de l'application est obligatoire.", "name")
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        raise ServiceError("Organisation inconnue.", "organisation_id")
    key = key or "amd_" + secrets.token_urlsafe(32)
    secret = secret or secrets.token_urlsafe(32)
    client = ApiClient(
        organisation_id=organisation.id,
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[:8],
        signing_secret=secret,
        created_by_id=actor.id if actor else None,
    )
    db.session.add(client)
    db.session.flush()
    audit.record(actor, "api_client.created", client, name=name, key_prefix=client.key_prefix)
    return client, key, secret


def revoke_client(actor: User, client: ApiClient) -> None:
    """Turn a key off for good: its next request gets 401."""
    if not actor.is_admin:
        raise PermissionDenied("Seul un administrateur peut révoquer une clé d'API.")
    if not client.active:
        raise ServiceError("Cette clé est déjà révoquée.")
    client.active = False
    forget_cached_keys()
    client.revoked_at = utcnow()
    client.revoked_by_id = actor.id
    audit.record(actor, "api_client.revoked", client, name=client.name, key_prefix=client.key_prefix)


def seed_demo_client(orgs: dict[str, Organisation]) -> list[str]:
    """Demo data: the citizens' app of CNSS with the documented key (idempotent)."""
    if "CNSS" not in orgs:
        return []
    if db.session.scalar(select(ApiClient.id).where(ApiClient.key_hash == hash_key(DEMO_CLIENT_KEY))):
        return []
    create_client(None, orgs["CNSS"].id, DEMO_CLIENT_NAME, key=DEMO_CLIENT_KEY, secret=DEMO_CLIENT_SECRET)
    return [f"client API {DEMO_CLIENT_NAME} (clé {DEMO_CLIENT_KEY})"]
