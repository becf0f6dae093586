"""Writing audit events: every action that changes something calls record()."""

from __future__ import annotations

from typing import Any

from backoffice.extensions import db
from backoffice.models import AuditEvent, User


def record(
    actor: User | None,
    action: str,
    obj: Any = None,
    *,
    organisation_id: int | None = None,
    ip: str | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the current transaction (the caller commits).

    The organisation is taken from the object when it has one, otherwise from the actor,
    so that superviseurs see their organisation's events and nobody else's.
    """
    object_type = obj.__class__.__name__ if obj is not None else ""
    object_id = str(getattr(obj, "id", "") or "") if obj is not None else ""
    if organisation_id is None and obj is not None:
        organisation_id = getattr(obj, "organisation_id", None)
        if organisation_id is None and object_type == "Organisation":
            organisation_id = obj.id
    if organisation_id is None and actor is not None:
        organisation_id = actor.organisation_id
    if ip is None:
        ip = _request_ip()
    event = AuditEvent(
        user_id=actor.id if actor is not None else None,
        organisation_id=organisation_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        ip=ip,
        details={k: _jsonable(v) for k, v in details.items()},
    )
    db.session.add(event)
    return event


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _request_ip() -> str | None:
    """The client address when called inside a request (services stay request-free otherwise)."""
    from flask import has_request_context, request

    if has_request_context():
        return request.remote_addr
    return None
