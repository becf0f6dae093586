"""Platform administration: organisations, users, payer accounts."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

from backoffice.admin import views  # noqa: E402,F401
