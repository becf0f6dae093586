"""Client applications of the API (admins): keys and scopes, approval through the API, webhooks and their deliveries."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from backoffice.api.auth import forget_cached_keys
from backoffice.extensions import db
from backoffice.fines import bp
from backoffice.fines.forms import ApiApprovalForm, ApiClientForm, WebhookEndpointForm
from backoffice.forms import EmptyForm
from backoffice.models import Organisation
from backoffice.models.api import WebhookDelivery, WebhookEndpoint
from backoffice.models.fines import ApiClient
from backoffice.pages import current_actor
from backoffice.security import admin_required, get_or_404, no_store, step_up_refusal
from backoffice.services import ServiceError, attach_error, webhooks
from backoffice.services import api_clients as client_service


@bp.route("/clients-api")
@admin_required
def api_clients():
    clients = db.session.scalars(select(ApiClient).order_by(ApiClient.active.desc(), ApiClient.created_at.desc())).all()
    organisations = db.session.scalars(select(Organisation).order_by(Organisation.code)).all()
    approvals = {o.id: client_service.api_approval_allowed(o.id) for o in organisations}
    return render_template(
        "fines/api_clients.html", clients=clients, form=EmptyForm(), organisations=organisations, approvals=approvals
    )


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
                current_actor(), form.organisation_id.data, form.name.data, scopes=form.scopes.data
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


@bp.route("/clients-api/organisations/<int:org_id>/approbation", methods=["POST"])
@admin_required
def api_approval(org_id: int):
    """Turn approval through the API on or off for one organisation."""
    organisation = get_or_404(Organisation, org_id)
    form = ApiApprovalForm()
    if not form.validate_on_submit():
        abort(400)
    client_service.set_api_approval(current_actor(), organisation.id, form.allowed.data)
    db.session.commit()
    state = "autorisée" if form.allowed.data else "désactivée"
    flash(f"Approbation par l'API {state} pour {organisation.code}.", "success")
    return redirect(url_for("fines.api_clients"))


@bp.route("/clients-api/webhooks")
@admin_required
def webhook_deliveries():
    """The delivery log (status, tries, last answer), newest first."""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    per_page = current_app.config["PAGE_SIZE"]
    deliveries = db.session.scalars(webhooks.deliveries_query().limit(per_page + 1).offset((page - 1) * per_page)).all()
    return render_template(
        "fines/webhooks.html",
        deliveries=deliveries[:per_page],
        has_next=len(deliveries) > per_page,
        page=page,
        labels=webhooks.DELIVERY_LABELS,
        form=EmptyForm(),
    )


@bp.route("/clients-api/webhooks/adresses", methods=["GET", "POST"])
@admin_required
def webhook_endpoints():
    """Webhook endpoints of every organisation: register one for an API client, test or delete them."""
    form = WebhookEndpointForm()
    clients = db.session.scalars(
        select(ApiClient).where(ApiClient.active.is_(True)).order_by(ApiClient.organisation_id, ApiClient.name)
    ).all()
    form.api_client_id.choices = [(c.id, f"{c.organisation.code} — {c.name}") for c in clients]
    if form.validate_on_submit():
        try:
            endpoint = webhooks.create_endpoint(
                form.api_client_id.data,
                current_actor(),
                form.url.data,
                form.description.data or "",
                form.events.data,
                url_label="Cette URL",
            )
        except ServiceError as exc:
            db.session.rollback()
            attach_error(form, exc, "url")
        else:
            db.session.commit()
            flash(f"Webhook {endpoint.url} enregistré.", "success")
            return redirect(url_for("fines.webhook_endpoints"))
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)).order_by(WebhookEndpoint.id)
    ).all()
    return render_template(
        "fines/webhook_endpoints.html",
        form=form,
        endpoints=endpoints,
        event_labels=webhooks.EVENT_LABELS,
        all_events=webhooks.SUBSCRIBABLE_EVENTS,
        action_form=EmptyForm(),
    )


@bp.route("/clients-api/webhooks/<int:endpoint_id>/tester", methods=["POST"])
@admin_required
def webhook_test(endpoint_id: int):
    endpoint = get_or_404(WebhookEndpoint, endpoint_id)
    if not EmptyForm().validate_on_submit() or not endpoint.active:
        abort(400)
    webhooks.send_test(current_actor(), endpoint)
    db.session.commit()
    flash(f"Événement de test programmé pour {endpoint.url} : suivez-le dans le journal des livraisons.", "success")
    return redirect(url_for("fines.webhook_endpoints"))


@bp.route("/clients-api/webhooks/<int:endpoint_id>/supprimer", methods=["POST"])
@admin_required
def webhook_delete(endpoint_id: int):
    endpoint = get_or_404(WebhookEndpoint, endpoint_id)
    if not EmptyForm().validate_on_submit() or not endpoint.active:
        abort(400)
    webhooks.delete_endpoint(current_actor(), endpoint)
    db.session.commit()
    flash(f"Webhook {endpoint.url} supprimé.", "success")
    return redirect(url_for("fines.webhook_endpoints"))


@bp.route("/clients-api/livraisons/<int:delivery_id>/renvoyer", methods=["POST"])
@admin_required
def webhook_redeliver(delivery_id: int):
    """*Renvoyer*: the delivery is tried again at once, with a fresh retry window."""
    delivery = get_or_404(WebhookDelivery, delivery_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    webhooks.redeliver(current_actor(), delivery)
    db.session.commit()
    flash("Livraison reprogrammée.", "success")
    return redirect(url_for("fines.webhook_deliveries"))
