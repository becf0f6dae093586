"""All models, imported here so that Alembic and the app see every table."""

from backoffice.models import api, approvals, batches, fines, lists, providers, rollups  # noqa: F401
from backoffice.models.accounts import Account, EntryKind, LedgerEntry
from backoffice.models.audit import AuditEvent
from backoffice.models.organisations import Organisation
from backoffice.models.users import LoginFailure, RecoveryCode, Role, User

__all__ = [
    "Account",
    "AuditEvent",
    "EntryKind",
    "LedgerEntry",
    "LoginFailure",
    "Organisation",
    "RecoveryCode",
    "Role",
    "User",
]
