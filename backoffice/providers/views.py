"""Payee providers directory (platform admins)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.forms import EmptyForm
from backoffice.models.providers import PayeeProvider
from backoffice.providers import bp
from backoffice.providers.forms import ProviderForm
from backoffice.security import admin_required, get_or_404
from backoffice.services import ServiceError, attach_error
from backoffice.services import providers as provider_service


@bp.route("/fournisseurs")
@admin_required
def index():
    stmt = select(PayeeProvider).order_by(PayeeProvider.name)
    page = db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("providers/index.html", page=page, form=EmptyForm())


@bp.route("/fournisseurs/nouveau", methods=["GET", "POST"])
@admin_required
def new():
    form = ProviderForm()
    if form.validate_on_submit():
        try:
            provider = provider_service.create_provider(
                current_user._get_current_object(), form.fsp_id.data, form.name.data
            )
        except ServiceError as exc:
            attach_error(form, exc, "fsp_id")
        else:
            db.session.commit()
            flash(f"Fournisseur {provider.name} ajouté.", "success")
            return redirect(url_for("providers.index"))
    return render_template("providers/form.html", form=form, provider=None)


@bp.route("/fournisseurs/<int:provider_id>", methods=["GET", "POST"])
@admin_required
def edit(provider_id: int):
    provider = get_or_404(PayeeProvider, provider_id)
    form = ProviderForm(obj=provider)
    form.fsp_id.render_kw = {"readonly": True}
    form.fsp_id.data = provider.fsp_id  # the FSP id is the key rows refer to: never changed
    if form.validate_on_submit():
        try:
            provider_service.update_provider(current_user._get_current_object(), provider, form.name.data)
        except ServiceError as exc:
            attach_error(form, exc, "name")
        else:
            db.session.commit()
            flash("Fournisseur modifié.", "success")
            return redirect(url_for("providers.index"))
    return render_template("providers/form.html", form=form, provider=provider)


@bp.route("/fournisseurs/<int:provider_id>/activation", methods=["POST"])
@admin_required
def toggle(provider_id: int):
    provider = get_or_404(PayeeProvider, provider_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    provider_service.set_provider_active(current_user._get_current_object(), provider, not provider.active)
    db.session.commit()
    flash(f"Fournisseur {provider.name} {'réactivé' if provider.active else 'désactivé'}.", "success")
    return redirect(url_for("providers.index"))
