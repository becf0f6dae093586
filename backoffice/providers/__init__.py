"""Payee providers directory (platform admins)."""

from flask import Blueprint

bp = Blueprint("providers", __name__)

from backoffice.providers import views  # noqa: E402,F401
