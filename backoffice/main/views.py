"""The landing page and the health check."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select, text

from backoffice.extensions import db
from backoffice.main import bp
from backoffice.models import Account
from backoffice.security import public, signed_in
from backoffice.services.dashboard.home import home_work


@bp.route("/")
@signed_in
def index():
    """Admins land on administration; organisation members on their dashboard."""
    if current_user.is_admin:
        return redirect(url_for("admin.organisations"))
    accounts = db.session.scalars(
        select(Account).where(Account.organisation_id == current_user.organisation_id).order_by(Account.account_id)
    ).all()
    return render_template("main/index.html", accounts=accounts, work=home_work(current_user))


@bp.route("/sante")
@public
def health():
    """Liveness for load balancers: the database answers."""
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}
