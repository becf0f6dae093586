"""Client applications of the API (admins): create a key, list them, revoke one."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from backoffice.api.auth import forget_cached_keys
from backoffice.extensions import db
from backoffice.fines import bp
from backoffice.fines.forms import ApiClientForm
from backoffice.forms import EmptyForm
from backoffice.models import Organisation
from backoffice.models.fines import ApiClient
from backoffice.pages import current_actor
from backoffice.security import admin_required, get_or_404, no_store, step_up_refusal
from backoffice.services import ServiceError, attach_error
from backoffice.services import api_clients as client_service


@bp.route("/clients-api")
@admin_required
def api_clients():
    clients = db.session.scalars(select(ApiClient).order_by(ApiClient.active.desc(), ApiClient.created_at.desc())).all()
    return render_template("fines/api_clients.html", clients=clients, form=EmptyForm())


@bp.route("/clients-api/nouveau", methods=["GET", "POST"])
@admin_required
def api_client_new():
    form = ApiClientForm()
    orgs = db.session.scalars(select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.code))
    form.organisation_id.choices = [(o.id, f"{o.code} — {o.name}") for o in orgs]
    valid = form.validate_on_submit()
    refusal = step_up_refusal(request.form.get("code")) if valid else None
    if valid and not refusal:
        try:
            client, key, secret = client_service.create_client(
                current_actor(), form.organisation_id.data, form.name.data
            )
        except ServiceError as exc:
            attach_error(form, exc, "name")
        else:
            db.session.commit()
            return no_store(render_template("fines/api_client_created.html", client=client, key=key, secret=secret))
    elif refusal:
        form.name.errors = [*form.name.errors, refusal]
    return render_template("fines/api_client_form.html", form=form)


@bp.route("/clients-api/<int:client_id>/revoquer", methods=["POST"])
@admin_required
def api_client_revoke(client_id: int):
    client = get_or_404(ApiClient, client_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if refusal := step_up_refusal(request.form.get("code")):
        flash(refusal, "error")
        return redirect(url_for("fines.api_clients"))
    try:
        client_service.revoke_client(current_actor(), client)
    except ServiceError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        forget_cached_keys()  # after the commit: no request re-caches the key as still active
        flash(f"Clé de « {client.name} » révoquée.", "success")
    return redirect(url_for("fines.api_clients"))
