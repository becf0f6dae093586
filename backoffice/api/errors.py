"""The JSON API's refusal: one exception, one body shape (stable code, French message, details)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app

from backoffice.extensions import db


class ApiError(Exception):
    """A refusal of the JSON API: HTTP status, stable code, French message, optional details.

    `extra` goes into the body as is (e.g. `erreurs`, one entry per field); `headers` into
    the response (e.g. WWW-Authenticate of a 401).
    """

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict:
        return {"erreur": self.code, "message": self.message, **self.extra}


def api_error_response(error: ApiError) -> Response:
    """The JSON answer to an ApiError; nothing the request wrote stays in the session."""
    db.session.rollback()
    response = current_app.json.response(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


# Service refusals → API refusals ---------------------------------------------------------

# The services' form field names → the API's
_FIELDS = {
    "account_id": "compte_payeur",
    "label": "libelle",
    "exclude_invalid": "exclure_invalides",
    "reason": "motif",
}


def from_service_error(exc: Exception) -> ApiError:
    """A ServiceError as the API answers it: 403 for a permission, 422 for a field, 409 for a state."""
    from backoffice.services import PermissionDenied
    from backoffice.services.bulk.reading import FileRejected
    from backoffice.services.ledger import InsufficientFunds

    message = str(exc)
    if isinstance(exc, FileRejected):
        return ApiError(
            422,
            "FICHIER_REFUSE",
            message,
            erreurs=[{"champ": "file", "code": "FICHIER_REFUSE", "message": message}],
        )
    if isinstance(exc, PermissionDenied):
        return ApiError(403, "ACTION_INTERDITE", message)
    if isinstance(exc, InsufficientFunds):
        return ApiError(409, "FONDS_INSUFFISANTS", message)
    field = getattr(exc, "field", None)
    if field:
        champ = _FIELDS.get(field, field)
        return ApiError(
            422,
            "PARAMETRES_INVALIDES",
            message,
            erreurs=[{"champ": champ, "code": "VALEUR_INVALIDE", "message": message}],
        )
    return ApiError(409, "ETAT_INCOMPATIBLE", message)


def not_found(what: str = "Lot introuvable.", code: str = "LOT_INTROUVABLE") -> ApiError:
    return ApiError(404, code, what)


# HTTP errors raised before or around the views (unknown path, wrong method, body too large)
HTTP_CODES = {
    400: "REQUETE_INVALIDE",
    403: "ACCES_REFUSE",
    404: "INTROUVABLE",
    405: "METHODE_NON_AUTORISEE",
    413: "REQUETE_TROP_VOLUMINEUSE",
    500: "ERREUR_INTERNE",
}


def http_error_response(status: int, message: str) -> Response:
    """The API's error shape for an HTTP error Flask raised itself."""
    return api_error_response(ApiError(status, HTTP_CODES.get(status, "ERREUR"), message))
