"""The organisation dashboard: a month's figures, charts and their export."""

from flask import Blueprint

bp = Blueprint("dashboards", __name__)

from backoffice.dashboards import views  # noqa: E402,F401
