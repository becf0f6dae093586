"""All models, imported here so that Alembic and the app see every table."""

# Areas built on the foundation register their models by importing them here.
from backoffice.models import (
    batches,  # noqa: E402,F401
    extras,  # noqa: E402,F401
    fines,  # noqa: E402,F401
)
from backoffice.models.accounts import Account, EntryKind, LedgerEntry
from backoffice.models.audit import AuditEvent
from backoffice.models.organisations import Organisation
from backoffice.models.users import LoginFailure, Role, User

__all__ = [
    "Account",
    "AuditEvent",
    "EntryKind",
    "LedgerEntry",
    "LoginFailure",
    "Organisation",
    "Role",
    "User",
]
