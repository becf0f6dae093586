"""Fines payments of the user's organisation: the filtered list and one payment's page."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, render_template
from flask_login import current_user
from htmx_flask import request
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.fines import bp
from backoffice.fines.forms import CloseForm
from backoffice.forms import EmptyForm
from backoffice.models.fines import PAYMENT_STATUS_LABELS, FinePayment, PaymentStatus
from backoffice.pages import STOP_POLLING
from backoffice.security import get_for_org, member_required
from backoffice.services.fines import queries, states


def date_arg(name: str) -> datetime | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        flash(f"Date invalide : « {value} » (format attendu : AAAA-MM-JJ).", "warning")
        return None


def _filters() -> dict:
    status = request.args.get("statut", "").strip()
    if status and status not in PaymentStatus.__members__:
        status = ""
    return {
        "status": status,
        "date_from": date_arg("du"),
        "date_to": date_arg("au"),
        "phone": request.args.get("telephone", "").strip(),
        "reference": request.args.get("reference", "").strip(),
    }


@bp.route("/")
@member_required
def payments():
    filters = _filters()
    stmt = queries.search_payments(current_user.organisation_id, **filters)
    page = db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    counts = dict(
        db.session.execute(
            select(FinePayment.status, func.count())
            .where(FinePayment.organisation_id == current_user.organisation_id)
            .group_by(FinePayment.status)
        ).all()
    )
    return render_template(
        "fines/payments.html", page=page, statuses=PAYMENT_STATUS_LABELS, counts=counts, args=request.args
    )


@bp.route("/paiements/<payment_id>")
@member_required
def payment(payment_id: str):
    payment = get_for_org(FinePayment, payment_id)
    return payment_page(payment, admin=False)


def payment_page(payment: FinePayment, admin: bool):
    """The payment's page, or just its status fragment for htmx polling (286 stops it once settled)."""
    events = states.timeline(payment)
    context = {"payment": payment, "events": events, "admin": admin, "close_form": CloseForm(), "form": EmptyForm()}
    if request.htmx:
        response = current_app.make_response(render_template("fines/_payment_status.html", **context))
        if payment.is_final or payment.status == PaymentStatus.A_VERIFIER:
            response.status_code = STOP_POLLING
        return response
    return render_template("fines/payment.html", **context)
