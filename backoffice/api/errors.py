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
