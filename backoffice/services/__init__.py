"""Domain services: the only place business rules live."""

from __future__ import annotations


class ServiceError(Exception):
    """A rule refused an action; the message is French and shown to the user.

    `field` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PermissionDenied(ServiceError):
    """The acting user may not do this."""


def attach_error(form, error: ServiceError, default_field: str | None = None) -> bool:
    """Put a service refusal next to its field; returns False when it belongs to no field."""
    name = error.field or default_field
    field = getattr(form, name, None) if name else None
    if field is None:
        return False
    field.errors = [*field.errors, str(error)]
    return True
