"""Reading the audit log: filters, the page's query, filter choices and the CSV export."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from backoffice.extensions import db


@dataclass
class AuditFilters:
    user_id: int | None = None
    action: str = ""
    object_type: str = ""
    date_from: date | None = None
    date_to: date | None = None


def audit_query(organisation_id: int | None, filters: AuditFilters):
    """Audit events newest first; `organisation_id=None` means every organisation (admins)."""
    from backoffice.models import AuditEvent

    stmt = select(AuditEvent)
    if organisation_id is not None:
        stmt = stmt.where(AuditEvent.organisation_id == organisation_id)
    if filters.user_id:
        stmt = stmt.where(AuditEvent.user_id == filters.user_id)
    if filters.action:
        stmt = stmt.where(AuditEvent.action.like(f"{filters.action.replace('%', '')}%"))
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.date_from:
        stmt = stmt.where(AuditEvent.created_at >= datetime.combine(filters.date_from, datetime.min.time()))
    if filters.date_to:
        stmt = stmt.where(
            AuditEvent.created_at < datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time())
        )
    return stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


def audit_filter_choices(organisation_id: int | None) -> dict[str, list]:
    """Users, actions and object types that appear in the visible part of the log."""
    from backoffice.models import AuditEvent, User

    scope = [] if organisation_id is None else [AuditEvent.organisation_id == organisation_id]
    actions = db.session.scalars(select(AuditEvent.action).where(*scope).distinct().order_by(AuditEvent.action))
    types = db.session.scalars(
        select(AuditEvent.object_type)
        .where(*scope, AuditEvent.object_type != "")
        .distinct()
        .order_by(AuditEvent.object_type)
    )
    users_stmt = select(User).order_by(User.last_name, User.first_name)
    if organisation_id is not None:
        users_stmt = users_stmt.where(User.organisation_id == organisation_id)
    return {"actions": list(actions), "object_types": list(types), "users": list(db.session.scalars(users_stmt))}


def audit_csv_rows(events) -> Iterable[list]:
    import json

    yield ["Date (UTC)", "Utilisateur", "Action", "Objet", "Identifiant", "Organisation", "Adresse IP", "Détails"]
    for e in events:
        yield [
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.user.email if e.user else "Système",
            e.action,
            e.object_type,
            e.object_id,
            e.organisation_id or "",
            e.ip or "",
            json.dumps(e.details or {}, ensure_ascii=False, sort_keys=True),
        ]
