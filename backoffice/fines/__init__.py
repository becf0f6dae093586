"""Fines paid by mobile money, in the back-office: payments, the « À vérifier » queue, API keys.

URLs stay French (/amendes/…). The JSON API of client applications is backoffice/api/.
"""

from flask import Blueprint
from flask_login import current_user

from backoffice.jobs import fines as fines_jobs
from backoffice.models import User

bp = Blueprint("fines", __name__, url_prefix="/amendes")


@bp.record_once
def _register_worker_hook(state) -> None:
    """Workers pick up payments left behind, and keep the sweep running (see jobs/fines.py)."""
    state.app.extensions.setdefault("worker_startup", []).append(fines_jobs.on_worker_startup)


def actor() -> User:
    """The signed-in user, as the services take them."""
    return current_user._get_current_object()


from backoffice.fines import api_clients, payments, review  # noqa: E402, F401 - registers the routes on bp
