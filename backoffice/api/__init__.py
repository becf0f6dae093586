"""The JSON API for client applications: one blueprint, API-key authentication, one error shape.

Clients authenticate with `Authorization: Bearer <key>` (auth.py), never with the session
cookie, so the blueprint needs no CSRF token. Every refusal is an ApiError, answered by
the blueprint's handler with a stable code, a French message and per-field details.
"""

from flask import Blueprint

from backoffice.api.errors import ApiError, api_error_response
from backoffice.extensions import csrf

bp = Blueprint("api", __name__)
bp.register_error_handler(ApiError, api_error_response)
csrf.exempt(bp)

# Ids are database integers: a larger number in a path names nothing (and would overflow the driver).
MAX_ID = 2**31 - 1


@bp.url_value_preprocessor
def _ids_in_range(endpoint: str | None, values: dict | None) -> None:
    for value in (values or {}).values():
        if isinstance(value, int) and value > MAX_ID:
            raise ApiError(404, "INTROUVABLE", "Objet introuvable.")


from backoffice.api import accounts, batches, docs, fines, webhooks  # noqa: E402, F401 - register their routes on bp
