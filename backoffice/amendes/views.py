"""Fines area: the JSON API for client applications and the back-office pages.

The API answers in milliseconds: it checks the key and the body and stores the payment
once; a worker's dispatcher picks it up within a fraction of a second and runs the saga.
Partners are only ever called by workers.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from backoffice.amendes.forms import ApiClientForm, CloseForm
from backoffice.extensions import csrf, db
from backoffice.forms import EmptyForm
from backoffice.jobs import fines as fines_jobs
from backoffice.models import Organisation, User
from backoffice.models.fines import PAYMENT_STATUS_LABELS, ApiClient, FinePayment, PaymentStatus
from backoffice.security import admin_required, api_route, get_for_org, get_or_404, member_required
from backoffice.services import ServiceError, attach_error
from backoffice.services import api_clients as client_service
from backoffice.services import fines as fines_service

bp = Blueprint("amendes", __name__)
log = logging.getLogger(__name__)

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def _actor() -> User:
    return current_user._get_current_object()


# JSON API --------------------------------------------------------------------------------------


def _api_error(error: fines_service.ApiError):
    response = current_app.json.response(error.body())
    response.status_code = error.status
    return response


def _unauthorized():
    response = current_app.json.response(
        {
            "erreur": "NON_AUTHENTIFIE",
            "message": "Clé d'API manquante, invalide ou révoquée (Authorization: Bearer <clé>).",
        }
    )
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="amendes"'
    return response


@bp.route("/payments/", methods=["POST"])
@api_route
@csrf.exempt
def api_create_payment():
    """Accept a fines payment: 202 at once, the saga runs in a worker."""
    config = current_app.config
    client = client_service.authenticate(request.headers.get("Authorization"), config["FINES_API_KEY_CACHE_SECONDS"])
    if client is None:
        return _unauthorized()
    max_bytes = config["FINES_API_MAX_BODY_BYTES"]
    try:
        if request.content_length is not None and request.content_length > max_bytes:
            raise fines_service.ApiError(
                413,
                "REQUETE_TROP_VOLUMINEUSE",
                f"Le corps de la requête dépasse la taille maximale ({max_bytes} octets).",
            )
        raw = request.stream.read(max_bytes + 1)
        data = fines_service.parse_body(raw, request.headers.get("Content-Type"), max_bytes)
        payment_request = fines_service.validate_request(
            data, config["FINES_CURRENCIES"], config["FINES_API_MAX_FINES"]
        )
        key = request.headers.get("Idempotency-Key")
        if key is not None and not _IDEMPOTENCY_KEY.match(key):
            raise fines_service.ApiError(
                422,
                "PARAMETRES_INVALIDES",
                "L'en-tête Idempotency-Key est invalide.",
                erreurs=[
                    {
                        "champ": "Idempotency-Key",
                        "code": "CLE_IDEMPOTENCE_INVALIDE",
                        "message": "La clé d'idempotence doit faire 1 à 128 caractères visibles, sans espaces.",
                    }
                ],
            )
        receipt = fines_service.submit_payment(client, payment_request, key, config["FINES_BUDGET_SECONDS"])
    except fines_service.ApiError as error:
        db.session.rollback()
        return _api_error(error)
    lien = f"/amendes/payments/{receipt.id}/"
    body = {"id": receipt.id, "reference": receipt.reference, "statut": receipt.statut, "lien": lien}
    response = current_app.json.response(body)
    response.status_code = 202 if receipt.created else 200
    response.headers["Location"] = lien
    if not receipt.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.route("/payments/<payment_id>/", methods=["GET"])
@api_route
def api_payment(payment_id: str):
    """A payment of the client's organisation: status, amounts, fines and timeline."""
    client = client_service.authenticate(
        request.headers.get("Authorization"), current_app.config["FINES_API_KEY_CACHE_SECONDS"]
    )
    if client is None:
        return _unauthorized()
    payment = db.session.get(FinePayment, payment_id)
    if payment is None or payment.organisation_id != client.organisation_id:
        return _api_error(fines_service.ApiError(404, "PAIEMENT_INCONNU", "Paiement introuvable."))
    return fines_service.as_json(payment)


# Back-office: payments -------------------------------------------------------------------------


def _date_arg(name: str) -> datetime | None:
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
        "date_from": _date_arg("du"),
        "date_to": _date_arg("au"),
        "phone": request.args.get("telephone", "").strip(),
        "reference": request.args.get("reference", "").strip(),
    }


@bp.route("/")
@member_required
def payments():
    filters = _filters()
    stmt = fines_service.search_payments(current_user.organisation_id, **filters)
    page = db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    counts = dict(
        db.session.execute(
            select(FinePayment.status, func.count())
            .where(FinePayment.organisation_id == current_user.organisation_id)
            .group_by(FinePayment.status)
        ).all()
    )
    return render_template(
        "amendes/payments.html", page=page, statuses=PAYMENT_STATUS_LABELS, counts=counts, args=request.args
    )


@bp.route("/paiements/<payment_id>")
@member_required
def payment(payment_id: str):
    payment = get_for_org(FinePayment, payment_id)
    return _payment_page(payment, admin=False)


def _payment_page(payment: FinePayment, admin: bool):
    events = fines_service.timeline(payment)
    context = {"payment": payment, "events": events, "admin": admin, "close_form": CloseForm(), "form": EmptyForm()}
    if request.headers.get("HX-Request"):
        response = current_app.make_response(render_template("amendes/_payment_status.html", **context))
        if payment.is_final or payment.status == PaymentStatus.A_VERIFIER:
            response.status_code = 286  # htmx: stop polling
        return response
    return render_template("amendes/payment.html", **context)


# Back-office: the A_VERIFIER queue (admins) ----------------------------------------------------


@bp.route("/a-verifier")
@admin_required
def review_queue():
    stmt = fines_service.search_payments(None, status=PaymentStatus.A_VERIFIER.value)
    page = db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("amendes/review_queue.html", page=page)


@bp.route("/a-verifier/<payment_id>")
@admin_required
def review_detail(payment_id: str):
    return _payment_page(get_or_404(FinePayment, payment_id), admin=True)


@bp.route("/a-verifier/<payment_id>/relancer", methods=["POST"])
@admin_required
def review_rerun(payment_id: str):
    payment = get_or_404(FinePayment, payment_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        fines_service.rerun_payment(_actor(), payment, current_app.config["FINES_BUDGET_SECONDS"])
    except ServiceError as exc:
        flash(str(exc), "error")
        return redirect(url_for("amendes.review_detail", payment_id=payment.id))
    db.session.commit()
    try:
        fines_jobs.enqueue_payment(payment.id)
    except Exception:  # noqa: BLE001 - the sweep picks it up
        log.exception("fines payment %s not enqueued after rerun", payment.id)
    flash(f"Paiement {payment.reference} relancé.", "success")
    return redirect(url_for("amendes.review_queue"))


@bp.route("/a-verifier/<payment_id>/clore", methods=["POST"])
@admin_required
def review_close(payment_id: str):
    payment = get_or_404(FinePayment, payment_id)
    form = CloseForm()
    if form.validate_on_submit():
        try:
            fines_service.close_payment(_actor(), payment, form.note.data)
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
            return redirect(url_for("amendes.review_queue"))
    for error in form.note.errors:
        flash(error, "error")
    return redirect(url_for("amendes.review_detail", payment_id=payment.id))


# Back-office: API clients (admins) -------------------------------------------------------------


@bp.route("/clients-api")
@admin_required
def api_clients():
    clients = db.session.scalars(select(ApiClient).order_by(ApiClient.active.desc(), ApiClient.created_at.desc())).all()
    return render_template("amendes/api_clients.html", clients=clients, form=EmptyForm())


@bp.route("/clients-api/nouveau", methods=["GET", "POST"])
@admin_required
def api_client_new():
    form = ApiClientForm()
    orgs = db.session.scalars(select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.code))
    form.organisation_id.choices = [(o.id, f"{o.code} — {o.name}") for o in orgs]
    if form.validate_on_submit():
        try:
            client, key, secret = client_service.create_client(_actor(), form.organisation_id.data, form.name.data)
        except ServiceError as exc:
            attach_error(form, exc, "name")
        else:
            db.session.commit()
            return render_template("amendes/api_client_created.html", client=client, key=key, secret=secret)
    return render_template("amendes/api_client_form.html", form=form)


@bp.route("/clients-api/<int:client_id>/revoquer", methods=["POST"])
@admin_required
def api_client_revoke(client_id: int):
    client = get_or_404(ApiClient, client_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        client_service.revoke_client(_actor(), client)
    except ServiceError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"Clé de « {client.name} » révoquée.", "success")
    return redirect(url_for("amendes.api_clients"))
