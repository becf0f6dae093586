"""API keys of client applications: created and revoked by an admin, only their hash stored.

Checking a key on a request is the API's (backoffice/api/auth.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
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
DEMO_CLIENT_ORG = "AMENDES"  # the traffic authority of the demo (services/demo.py)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def sign(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of a callback body under the client's secret, as sent in X-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# What a client may do. No scopes column yet: every client holds all of them.
CLIENT_SCOPES = frozenset({"fines:read", "fines:write"})


@dataclass(frozen=True)
class ApiIdentity:
    """Who is calling the API: what a request needs of its ApiClient, cheap to cache."""

    id: int
    organisation_id: int
    name: str
    scopes: frozenset[str] = CLIENT_SCOPES


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
    """Turn a key off for good: its next request gets 401 (the caller drops the key cache after commit)."""
    if not actor.is_admin:
        raise PermissionDenied("Seul un administrateur peut révoquer une clé d'API.")
    if not client.active:
        raise ServiceError("Cette clé est déjà révoquée.")
    client.active = False
    client.revoked_at = utcnow()
    client.revoked_by_id = actor.id
    audit.record(actor, "api_client.revoked", client, name=client.name, key_prefix=client.key_prefix)


def seed_demo_client(orgs: dict[str, Organisation]) -> list[str]:
    """Demo data: the citizens' app of the traffic authority with the documented key (idempotent)."""
    if DEMO_CLIENT_ORG not in orgs:
        return []
    if db.session.scalar(select(ApiClient.id).where(ApiClient.key_hash == hash_key(DEMO_CLIENT_KEY))):
        return []
    create_client(None, orgs[DEMO_CLIENT_ORG].id, DEMO_CLIENT_NAME, key=DEMO_CLIENT_KEY, secret=DEMO_CLIENT_SECRET)
    return [f"client API {DEMO_CLIENT_NAME} (clé {DEMO_CLIENT_KEY})"]
