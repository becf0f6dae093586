"""Reading the audit log: filters, the page's query, filter choices and the CSV export."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.services.locale import utc_bounds


@dataclass
class AuditFilters:
    user_id: int | None = None
    action: str = ""
    object_type: str = ""
    date_from: date | None = None
    date_to: date | None = None
    timezone: str = "UTC"  # the reader's: the dates above are their calendar days
    q: str = ""  # who or what: a name, an email, a reference, words of the details


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
    if filters.q:
        from sqlalchemy import String, cast, or_

        from backoffice.models import User
        from backoffice.services.search import matches

        people = select(User.id).where(
            or_(matches(User.first_name, filters.q), matches(User.last_name, filters.q), matches(User.email, filters.q))
        )
        stmt = stmt.where(
            or_(
                AuditEvent.user_id.in_(people),
                matches(cast(AuditEvent.details, String), filters.q),
                matches(AuditEvent.action, filters.q),
            )
        )
    if filters.date_from:
        stmt = stmt.where(AuditEvent.created_at >= utc_bounds(filters.date_from, filters.date_from, filters.timezone)[0])
    if filters.date_to:
        end = filters.date_to + timedelta(days=1)
        stmt = stmt.where(AuditEvent.created_at < utc_bounds(end, end, filters.timezone)[0])
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
    from backoffice.services.audit_sentences import action_name, object_type_label

    return {
        "actions": [(a, action_name(a)) for a in actions],
        "object_types": [(t, object_type_label(t)) for t in types],
        "users": list(db.session.scalars(users_stmt)),
    }


def audit_csv_rows(events, timezone: str, batch_size: int = 500) -> Iterable[list]:
    """The export: the sentence and its parts, times in `timezone` (named in the header), the
    raw action and details kept as the last columns for tools that read them."""
    import json
    from itertools import islice

    from backoffice.services import audit_sentences as say
    from backoffice.services.locale import format_iso_local, zone_label

    yield [
        f"Date, {zone_label(timezone)}",
        "Utilisateur",
        "Événement",
        "Type d’objet",
        "Objet",
        "Détails",
        "Organisation",
        "Adresse IP",
        "Code de l’action",
        "Détails bruts (JSON)",
    ]
    events = iter(events)
    while chunk := list(islice(events, batch_size)):
        names = say.name_objects(chunk)
        for e in chunk:
            yield [
                format_iso_local(e.created_at, timezone),
                e.user.email if e.user else "Système",
                say.sentence(e, names),
                say.object_type_label(e.object_type),
                say.object_text(e, names),
                say.details_text(e, names),
                e.organisation_id or "",
                e.ip or "",
                e.action,
                json.dumps(e.details or {}, ensure_ascii=False, sort_keys=True),
            ]
