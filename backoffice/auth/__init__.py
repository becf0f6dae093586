"""Sign-in, sign-out and password change."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from backoffice.auth import views  # noqa: E402,F401
