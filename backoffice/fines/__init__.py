"""Fines paid by mobile money, in the back-office: payments, the « À vérifier » queue, API keys.

URLs stay French (/amendes/…). The JSON API of client applications is backoffice/api/.
"""

from flask import Blueprint

bp = Blueprint("fines", __name__)

from backoffice.fines import api_clients, dashboard, payments, reconciliation, review  # noqa: E402, F401 - registers the routes on bp
