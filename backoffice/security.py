"""Who may open which route: one decorator per access rule, used by every view.

Each decorator records its rule on the view function (`view.access_rule`), so the role
matrix test can check that every route in the URL map has one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, flash, make_response, redirect, session, url_for
from flask_login import current_user, logout_user
from htmx_flask import request
from werkzeug.routing import IntegerConverter

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


def local_path(target: str | None, default: str) -> str:
    """`target` if it is a same-site relative path, else `default` (an explicit `next`, never the Referer).

    Browsers read `/\\evil.example` as `//evil.example` and drop tabs and newlines, so a
    target with a backslash or a control character is refused too.
    """
    if (
        target
        and len(target) <= 2000
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 32 or ord(c) == 127 for c in target)
        and not urlsplit(target).netloc
        and not urlsplit(target).scheme
    ):
        return target
    return default


class SafeIntegerConverter(IntegerConverter):
    """`<int:…>` URL parts above 2**63 - 1 are a 404, not a database error (a 500)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


_HUGE_INTEGER = re.compile(r"^[+-]?0*[0-9]{19,}$", re.ASCII)


def _refuse_hostile_parameters() -> None:
    """Before any view reads them: a query integer beyond 64 bits, or a NUL character in a query
    or form value (PostgreSQL refuses NUL in text: it would be a 500), is a 400."""
    for value in request.args.values():
        if "\x00" in value or (_HUGE_INTEGER.match(value) and abs(int(value[:40])) > 2**63 - 1):
            abort(400)
    if request.method == "POST" and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if any("\x00" in value for value in request.form.values()):
            abort(400)


def link_args() -> dict:
    """The query of this page, to copy into its own links (pagination, exports): never a name
    that url_for reads itself (`_method`, `_external`…) nor one that would replace a URL argument."""
    view_args = request.view_args or {}
    return {k: v for k, v in request.args.items() if not k.startswith("_") and k not in view_args}


def no_store(response: Any) -> Any:
    """Pages that show a secret (API key, recovery codes, QR code, invitation link) are never cached."""
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


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


# Sessions ------------------------------------------------------------------------------
# The cookie carries `<user id>:<session version>` (User.get_id); raising the version on the
# user (sign-out, password change, second-factor reset, deactivation) ends every session
# that still carries the old one. On top of that, a session ends after SESSION_IDLE_MINUTES
# without a request and SESSION_LIFETIME_SECONDS after sign-in.

SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
SECOND_FACTOR_AT = "second_factor_at"


def load_user(user_id: str) -> Any:
    """Flask-Login's loader: the user whose id *and* session version match the cookie."""
    from backoffice.models import User

    user_part, _, version = (user_id or "").partition(":")
    if not user_part.isdigit() or not version.isdigit() or len(user_part) > 18:
        return None
    user = db.session.get(User, int(user_part))
    if user is None or user.session_version != int(version):
        return None
    return user


def start_session(user: Any, second_factor: bool) -> None:
    """Sign `user` in on a fresh session (the caller has cleared the old one)."""
    from flask_login import login_user

    login_user(user)
    now = time.time()
    session.permanent = True
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now
    if second_factor:
        session[SECOND_FACTOR_AT] = now


def _end_expired_session() -> None:
    """Before each request: sign out a session idle too long or older than its lifetime."""
    if "_user_id" not in session:
        return
    now = time.time()
    idle = current_app.config["SESSION_IDLE_MINUTES"] * 60
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"]
    lifetime = lifetime.total_seconds() if hasattr(lifetime, "total_seconds") else float(lifetime)
    seen = session.get(SEEN_AT)
    started = session.get(SIGNED_IN_AT)
    if not isinstance(seen, (int, float)) or not isinstance(started, (int, float)):
        expired = True
    else:
        expired = now - seen > idle or now - started > lifetime
    if expired:
        logout_user()
        session.clear()
        flash("Votre session a expiré : reconnectez-vous.", "warning")
    elif now - seen > 15:  # not on every request: the cookie is rewritten at most every 15 s
        session[SEEN_AT] = now


def register_url_converters(app: Flask) -> None:
    """Before any route is added: integer URL parts stay within 64 bits."""
    app.url_map.converters["int"] = SafeIntegerConverter


def register_session_rules(app: Flask) -> None:
    """Idle and absolute session expiry, the session-version loader, the step-up helper."""
    app.before_request(_refuse_hostile_parameters)
    app.before_request(_end_expired_session)
    app.login_manager.user_loader(load_user)
    app.add_template_global(step_up_needed)
    app.add_template_global(link_args)


# Step-up -------------------------------------------------------------------------------


def step_up_needed() -> bool:
    """Does the next sensitive act of the signed-in user need a code typed again?"""
    if not current_user.is_authenticated or not current_user.has_second_factor:
        return False
    at = session.get(SECOND_FACTOR_AT)
    max_age = current_app.config["STEP_UP_MAX_AGE_SECONDS"]
    return not isinstance(at, (int, float)) or time.time() - at > max_age


def step_up_refusal(code: str | None) -> str | None:
    """None when the act may go on: a code ≤ STEP_UP_MAX_AGE_SECONDS old, or a good one now.

    A user without a second factor (optional for their role) is not asked. The used code is
    committed at once, so that a refusal further on cannot make it usable twice.
    """
    from backoffice.services import ServiceError, twofactor

    if not step_up_needed():
        return None
    if not (code or "").strip():
        return "Cette action demande un code récent : saisissez le code à 6 chiffres de votre application."
    try:
        twofactor.verify(current_user._get_current_object(), code or "", allow_recovery=False)
    except ServiceError as exc:
        db.session.commit()
        return str(exc)
    db.session.commit()
    session[SECOND_FACTOR_AT] = time.time()
    return None
