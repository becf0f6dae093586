"""The audit log: who did what, when, from where; with its CSV export."""

from flask import Blueprint

bp = Blueprint("audit", __name__)

from backoffice.audit import views  # noqa: E402,F401
