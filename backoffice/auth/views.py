"""Sign-in (password, then the second factor), enrolment, sign-out and the password change."""

from __future__ import annotations

import time

from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user

from backoffice.auth import bp
from backoffice.auth.forms import ChangePasswordForm, ChoosePasswordForm, CodeForm, LoginForm
from backoffice.extensions import db
from backoffice.models import User
from backoffice.security import local_path, no_store, public, signed_in, start_session
from backoffice.services import ServiceError, attach_error, twofactor
from backoffice.services import users as user_service

# Between the password and the second factor, the session holds only this: who, which
# session version, since when, and where to go next. It expires after PENDING_SECONDS.
PENDING = "pending_sign_in"
PENDING_SECONDS = 300
AFTER_SIGN_IN = "after_sign_in"


def _safe_next(target: str | None) -> str:
    return local_path(target, url_for("main.index"))


def _pending_user() -> User | None:
    """The user who gave the right password and still owes the second factor, if any."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = db.session.get(User, pending.get("id"))
    if user is None or user.session_version != pending.get("v") or not user.is_active:
        return None
    return user


def _finish(user: User, second_factor: str | None, next_url: str):
    """Open the real session; a temporary password still leads to the change form first."""
    user_service.complete_sign_in(user, request.remote_addr or "", second_factor)
    db.session.commit()
    session.clear()
    start_session(user, second_factor=second_factor is not None)
    if user.must_change_password:
        flash("Choisissez un nouveau mot de passe avant de continuer.", "warning")
        return url_for("auth.change_password")
    return next_url


@bp.route("/connexion", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    error = None
    status = 200
    headers = {}
    if form.validate_on_submit():
        result = user_service.authenticate(form.email.data, form.password.data, request.remote_addr or "")
        db.session.commit()
        user = result.user
        if user is not None:
            return _start_second_step(user, _safe_next(request.args.get("next")))
        error = result.error
        if result.locked:
            status = 429
            headers["Retry-After"] = str(result.retry_after)
    return render_template("auth/login.html", form=form, error=error), status, headers


def _no_pending_sign_in():
    """The second step without a first one (or after it expired): start again."""
    return render_template("auth/expired.html")


def _start_second_step(user: User, next_url: str):
    """After a right password: the code (or the enrolment) when the user has or needs one."""
    session.clear()
    if user.has_second_factor or twofactor.required_for(user):
        session[PENDING] = {"id": user.id, "v": user.session_version, "at": time.time(), "next": next_url}
        return redirect(url_for("auth.second_factor" if user.has_second_factor else "auth.enrol"))
    return redirect(_finish(user, None, next_url))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    """The single-use link of an invitation or a reset: choose a password, then the second factor."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    user = user_service.user_for_invitation(token)
    if user is None:
        return no_store(make_response(render_template("auth/invitation_invalid.html"), 404))
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        try:
            user_service.accept_invitation(user, form.new.data)
        except ServiceError as exc:
            attach_error(form, exc, "new")
        else:
            db.session.commit()
            return _start_second_step(user, url_for("main.index"))
    return no_store(render_template("auth/invitation.html", form=form, user=user))


def _checked_code(form: CodeForm, check, user: User) -> tuple[object | None, int, dict]:
    """Run a code check; on a refusal, commit what it counted and put the message on the field.

    Returns (the check's result or None, the status, the headers: 429 + Retry-After when throttled).
    """
    try:
        return check(user, form.code.data), 200, {}
    except twofactor.CodeThrottled as exc:
        db.session.commit()
        attach_error(form, exc, "code")
        return None, 429, {"Retry-After": str(exc.retry_after)}
    except ServiceError as exc:
        db.session.commit()
        attach_error(form, exc, "code")
        return None, 200, {}


@bp.route("/connexion/code", methods=["GET", "POST"])
@public
def second_factor():
    """The second step of sign-in: a code of the app, or one of the recovery codes."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    user = _pending_user()
    if user is None or not user.has_second_factor:
        return _no_pending_sign_in()
    form = CodeForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        method, status, headers = _checked_code(form, twofactor.verify, user)
        if method is not None:
            target = _finish(user, method, session[PENDING]["next"])
            if method == "recovery":
                left = twofactor.remaining_recovery_codes(user)
                flash(f"Code de secours utilisé : il vous en reste {left}.", "warning")
            return redirect(target)
    return render_template("auth/second_factor.html", form=form), status, headers


@bp.route("/connexion/enrolement", methods=["GET", "POST"])
@public
def enrol():
    """Set up the authenticator app: scan the QR code, type its first code, note the recovery codes.

    Reached after the password of a user who must have a second factor and has none yet,
    or by a signed-in user (a superviseur) who chooses to add one.
    """
    signed_in_user = current_user._get_current_object() if current_user.is_authenticated else None
    user = signed_in_user or _pending_user()
    if user is None:
        return _no_pending_sign_in()
    if user.has_second_factor:
        return redirect(url_for("main.index"))
    form = CodeForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        codes, status, headers = _checked_code(form, twofactor.confirm_enrolment, user)
        if codes is not None:
            if signed_in_user is not None:
                db.session.commit()
                session["second_factor_at"] = time.time()
                target = url_for("main.index")
            else:
                target = _finish(user, "totp", session[PENDING]["next"])
            session[AFTER_SIGN_IN] = target
            # Shown once, in this response only: never stored in the session cookie.
            return no_store(render_template("auth/recovery_codes.html", codes=codes))
    else:
        twofactor.start_enrolment(user)
        db.session.commit()
    page = render_template(
        "auth/enrol.html",
        form=form,
        qr_svg=twofactor.qr_code_svg(user),
        secret=user.totp_secret,
        required=twofactor.required_for(user),
    )
    return no_store(make_response(page, status, headers))


@bp.route("/connexion/suite")
@signed_in
def after_sign_in():
    """Where the sign-in was going, once the recovery codes have been noted."""
    return redirect(_safe_next(session.pop(AFTER_SIGN_IN, None)))


@bp.route("/deconnexion", methods=["POST"])
@signed_in
def logout():
    """Sign out here, and (the session version moves on) on every other device too."""
    everywhere = request.form.get("everywhere") == "1"
    user_service.sign_out(current_user._get_current_object(), everywhere=everywhere)
    db.session.commit()
    logout_user()
    session.clear()
    if everywhere:
        flash("Vous êtes déconnecté de tous les appareils.", "info")
    else:
        flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@signed_in
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            user_service.change_password(user, form.current.data, form.new.data)
        except ServiceError as exc:
            attach_error(form, exc, "new")
        else:
            db.session.commit()
            # The new session version ended every other session; this one carries on.
            had_code = session.get("second_factor_at")
            session.clear()
            start_session(user, second_factor=False)
            if had_code:
                session["second_factor_at"] = had_code
            flash("Votre mot de passe a été changé.", "success")
            return redirect(url_for("main.index"))
    return render_template("auth/change_password.html", form=form)
