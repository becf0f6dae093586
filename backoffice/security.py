"""Who may open which route: one decorator per access rule, used by every view.

Each decorator records its rule on the view function (`view.access_rule`), so the role
matrix test can check that every route in the URL map has one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, make_response, redirect, url_for
from flask_login import current_user
from htmx_flask import request

from backoffice.extensions import db

F = TypeVar("F", bound=Callable[..., Any])

# public: anyone; signed_in: any signed-in user; member: any gestionnaire or superviseur (reads their organisation);
# gestionnaire: acts for their organisation; admin: platform administration;
# api: a client application with an API key.
ACCESS_RULES = ("public", "signed_in", "member", "gestionnaire", "admin", "api")


def _mark(view: Callable, rule: str) -> None:
    view.access_rule = rule  # type: ignore[attr-defined]


def public(view: F) -> F:
    _mark(view, "public")
    return view


def _htmx_redirect(location: str) -> Any:
    """For an HTMX request, a plain redirect would swap the target page into a fragment:
    tell htmx to load the whole page instead."""
    response = make_response("", 401)
    response.headers["HX-Redirect"] = location
    return response


def _signed_in_check() -> Any:
    if not current_user.is_authenticated:
        if request.htmx:
            return _htmx_redirect(url_for("auth.login"))
        return current_app.login_manager.unauthorized()
    # A temporary password leads to the change form; signing out stays possible.
    if current_user.must_change_password and request.endpoint not in ("auth.change_password", "auth.logout"):
        if request.htmx:
            return _htmx_redirect(url_for("auth.change_password"))
        return redirect(url_for("auth.change_password"))
    return None


def _rule(rule: str, allowed: Callable[[Any], bool]) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            refusal = _signed_in_check()
            if refusal is not None:
                return refusal
            if not allowed(current_user):
                abort(403)
            return view(*args, **kwargs)

        _mark(wrapped, rule)
        return wrapped  # type: ignore[return-value]

    return decorator


signed_in = _rule("signed_in", lambda u: True)
member_required = _rule("member", lambda u: u.is_member)
gestionnaire_required = _rule("gestionnaire", lambda u: u.is_gestionnaire)
admin_required = _rule("admin", lambda u: u.is_admin)


def api_route(view: F) -> F:
    """Mark a JSON API view; the view authenticates its client itself (401 otherwise)."""
    _mark(view, "api")
    return view


def get_for_org(model: type, object_id: Any) -> Any:
    """Load an object of the current user's organisation, or 404 (never 403: no hint it exists)."""
    obj = db.session.get(model, object_id)
    if obj is None or getattr(obj, "organisation_id", None) != current_user.organisation_id:
        abort(404)
    return obj


def get_or_404(model: type, object_id: Any) -> Any:
    obj = db.session.get(model, object_id)
    if obj is None:
        abort(404)
    return obj
