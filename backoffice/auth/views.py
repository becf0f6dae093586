"""Sign-in, sign-out and the forced password change."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from backoffice.auth import bp
from backoffice.auth.forms import ChangePasswordForm, LoginForm
from backoffice.extensions import db
from backoffice.security import public, signed_in
from backoffice.services import ServiceError, attach_error, audit
from backoffice.services import users as user_service


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after sign-in.

    Browsers read `/\\evil.example` as `//evil.example` and drop tabs and newlines, so a
    target with a backslash or a control character is refused too.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 32 or ord(c) == 127 for c in target)
        and not urlsplit(target).netloc
        and not urlsplit(target).scheme
    ):
        return target
    return url_for("main.index")


@bp.route("/connexion", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        result = user_service.authenticate(form.email.data, form.password.data, request.remote_addr or "")
        db.session.commit()
        if result.user is not None:
            session.clear()
            login_user(result.user)
            if result.user.must_change_password:
                flash("Choisissez un nouveau mot de passe avant de continuer.", "warning")
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next(request.args.get("next")))
        error = result.error
        status = 429 if result.locked else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/deconnexion", methods=["POST"])
@signed_in
def logout():
    audit.record(current_user._get_current_object(), "auth.logout", current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@signed_in
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            user_service.change_password(current_user._get_current_object(), form.current.data, form.new.data)
        except ServiceError as exc:
            attach_error(form, exc, "new")
        else:
            db.session.commit()
            flash("Votre mot de passe a été changé.", "success")
            return redirect(url_for("main.index"))
    return render_template("auth/change_password.html", form=form)
