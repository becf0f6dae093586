"""The « À vérifier » queue (admins): payments whose outcome a person must check, re-run or close."""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, redirect, render_template, url_for

from backoffice.extensions import db
from backoffice.fines import bp
from backoffice.fines.forms import CloseForm
from backoffice.fines.payments import payment_page
from backoffice.forms import EmptyForm
from backoffice.jobs import fines as fines_jobs
from backoffice.models.fines import FinePayment, PaymentStatus
from backoffice.pages import current_actor
from backoffice.security import admin_required, get_or_404
from backoffice.services import ServiceError, attach_error
from backoffice.services.fines import queries
from backoffice.services.fines import review as review_service

log = logging.getLogger(__name__)


@bp.route("/a-verifier")
@admin_required
def review_queue():
    stmt = queries.search_payments(None, status=PaymentStatus.A_VERIFIER.value)
    page = db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("fines/review_queue.html", page=page)


@bp.route("/a-verifier/<payment_id>")
@admin_required
def review_detail(payment_id: str):
    return payment_page(get_or_404(FinePayment, payment_id), admin=True)


@bp.route("/a-verifier/<payment_id>/relancer", methods=["POST"])
@admin_required
def review_rerun(payment_id: str):
    payment = get_or_404(FinePayment, payment_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        review_service.rerun_payment(current_actor(), payment, current_app.config["FINES_BUDGET_SECONDS"])
    except ServiceError as exc:
        flash(str(exc), "error")
        return redirect(url_for("fines.review_detail", payment_id=payment.id))
    db.session.commit()
    try:
        fines_jobs.enqueue_payment(payment.id)
    except Exception:  # noqa: BLE001 - the sweep picks it up
        log.exception("fines payment %s not enqueued after rerun", payment.id)
    flash(f"Paiement {payment.reference} relancé.", "success")
    return redirect(url_for("fines.review_queue"))


@bp.route("/a-verifier/<payment_id>/clore", methods=["POST"])
@admin_required
def review_close(payment_id: str):
    payment = get_or_404(FinePayment, payment_id)
    form = CloseForm()
    if form.validate_on_submit():
        try:
            review_service.close_payment(current_actor(), payment, form.note.data)
        except ServiceError as exc:
            attach_error(form, exc, "note")
        else:
            db.session.commit()
            if payment.callback_url:
                try:
                    current_app.get_queue().enqueue(fines_jobs.run_callback, payment.id)
                except Exception:  # noqa: BLE001 - the sweep sends it later
                    log.exception("callback of fines payment %s not enqueued", payment.id)
            flash(f"Paiement {payment.reference} clos.", "success")
            return redirect(url_for("fines.review_queue"))
    for error in form.note.errors:
        flash(error, "error")
    return redirect(url_for("fines.review_detail", payment_id=payment.id))
