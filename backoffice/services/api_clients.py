"""API keys of client applications: created and revoked by an admin, only their hash stored.

Each client holds scopes (what its key may do) and a technical user: batches need a
creator, and the four-eyes rules of `bulk.approval` compare users, so a batch created
through the API is created by its client's technical user. That user is inactive and has
no usable password: it can never sign in to the back-office. Checking a key on a request
is the API's (backoffice/api/auth.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Organisation, Role, User
from backoffice.models.api import ApiSettings
from backoffice.models.base import utcnow
from backoffice.models.fines import ApiClient
from backoffice.services import PermissionDenied, ServiceError, audit

DEMO_CLIENT_NAME = "Appli Citoyen"
DEMO_CLIENT_KEY = "demo-amendes-2026"
DEMO_CLIENT_SECRET = "demo-secret-amendes-2026"
DEMO_CLIENT_ORG = "AMENDES"  # the traffic authority of the demo (services/demo.py)

DEMO_BATCH_CLIENT_NAME = "Paie CNSS (API)"
DEMO_BATCH_CLIENT_KEY = "demo-lots-2026"
DEMO_BATCH_CLIENT_SECRET = "demo-webhook-2026"

# Scope → what it allows, as the admin page shows it.
SCOPES: dict[str, str] = {
    "batches:read": "Lire les lots et leurs lignes",
    "batches:write": "Créer et soumettre des lots",
    "batches:approve": "Approuver ou rejeter des lots (si l'organisation l'autorise)",
    "accounts:read": "Lire les comptes payeurs et leur grand livre",
    "fines:write": "Payer des amendes et suivre ces paiements",
}
# A client created without a choice of scopes (older code paths) is a fines application.
DEFAULT_SCOPES = ("fines:write",)
# Where technical users live: a reserved domain, never a mailbox.
TECHNICAL_EMAIL_DOMAIN = "clients-api.invalid"
UNUSABLE_PASSWORD = "!"  # no werkzeug hash has this form: every password check fails


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
    scopes: frozenset[str] = field(default_factory=frozenset)
    user_id: int | None = None


def clean_scopes(scopes) -> list[str]:
    """The known scopes among `scopes`, in the order of SCOPES; an unknown one is refused."""
    chosen = set(scopes or ())
    unknown = chosen - set(SCOPES)
    if unknown:
        raise ServiceError(f"Droit inconnu : {', '.join(sorted(unknown))}.", "scopes")
    return [s for s in SCOPES if s in chosen]


def create_client(
    actor: User | None,
    organisation_id: int,
    name: str,
    key: str | None = None,
    secret: str | None = None,
    scopes=None,
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
    chosen = clean_scopes(DEFAULT_SCOPES if scopes is None else scopes)
    if not chosen:
        raise ServiceError("Choisissez au moins un droit.", "scopes")
    key = key or "amd_" + secrets.token_urlsafe(32)
    secret = secret or secrets.token_urlsafe(32)
    user = _new_technical_user(organisation.id, name)
    client = ApiClient(
        organisation_id=organisation.id,
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[:8],
        signing_secret=secret,
        scopes=chosen,
        user_id=user.id,
        created_by_id=actor.id if actor else None,
    )
    db.session.add(client)
    db.session.flush()
    audit.record(actor, "api_client.created", client, name=name, key_prefix=client.key_prefix, scopes=chosen)
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


def technical_user(client_id: int) -> User:
    """The user a client's batch actions are recorded under (created on first use for older clients)."""
    client = db.session.get(ApiClient, client_id)
    if client is None:
        raise ServiceError("Client API inconnu.")
    if client.user_id is not None:
        return db.session.get(User, client.user_id)
    user = _new_technical_user(client.organisation_id, client.name)
    client.user_id = user.id
    return user


def _new_technical_user(organisation_id: int, client_name: str) -> User:
    """An inactive gestionnaire with no usable password: it acts for a client, never signs in."""
    user = User(
        email=f"api-{secrets.token_hex(8)}@{TECHNICAL_EMAIL_DOMAIN}",
        first_name="Client API",
        last_name=client_name[:100],
        role=Role.GESTIONNAIRE.value,
        organisation_id=organisation_id,
        active=False,
        password_hash=UNUSABLE_PASSWORD,
        must_change_password=False,
    )
    db.session.add(user)
    db.session.flush()
    return user


def api_approval_allowed(organisation_id: int) -> bool:
    settings = db.session.get(ApiSettings, organisation_id)
    return bool(settings and settings.api_approval_allowed)


def set_api_approval(actor: User, organisation_id: int, allowed: bool) -> None:
    """Allow (or not) a client holding batches:approve to approve another client's batches."""
    if not actor.is_admin:
        raise PermissionDenied("Seul un administrateur peut changer ce réglage.")
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        raise ServiceError("Organisation inconnue.", "organisation_id")
    settings = db.session.get(ApiSettings, organisation_id) or ApiSettings(organisation_id=organisation_id)
    settings.api_approval_allowed = bool(allowed)
    settings.updated_at = utcnow()
    settings.updated_by_id = actor.id
    db.session.add(settings)
    audit.record(actor, "api_settings.updated", organisation, api_approval_allowed=bool(allowed))


def seed_demo_client(orgs: dict[str, Organisation]) -> list[str]:
    """Demo data: the traffic authority's citizens' app and CNSS's payroll system, with the documented keys (idempotent)."""
    created = []
    demo_clients = (
        (DEMO_CLIENT_ORG, DEMO_CLIENT_NAME, DEMO_CLIENT_KEY, DEMO_CLIENT_SECRET, ["fines:write"]),
        (
            "CNSS",
            DEMO_BATCH_CLIENT_NAME,
            DEMO_BATCH_CLIENT_KEY,
            DEMO_BATCH_CLIENT_SECRET,
            ["batches:read", "batches:write", "accounts:read"],
        ),
    )
    for org_code, name, key, secret, scopes in demo_clients:
        if org_code not in orgs:
            continue
        if db.session.scalar(select(ApiClient.id).where(ApiClient.key_hash == hash_key(key))):
            continue
        create_client(None, orgs[org_code].id, name, key=key, secret=secret, scopes=scopes)
        created.append(f"client API {name} (clé {key})")
    return created
