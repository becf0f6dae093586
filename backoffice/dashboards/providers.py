"""Payee providers directory (platform admins)."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from backoffice.dashboards.forms import ProviderForm
from backoffice.dashboards.views import bp
from backoffice.extensions import db
from backoffice.forms import EmptyForm
from backoffice.models.extras import PayeeProvider
from backoffice.security import admin_required, get_or_404
from backoffice.services import ServiceError, attach_error
from backoffice.services import providers as provider_service


def payee_provider_name(fsp_id: str | None) -> str:
    """Template helper: a row's payee FSP id → provider name (one query per request)."""
    if "payee_provider_names" not in g:
        g.payee_provider_names = provider_service.provider_names()
    return provider_service.provider_label(fsp_id, g.payee_provider_names)


bp.record_once(lambda state: state.app.add_template_global(payee_provider_name))


@bp.route("/fournisseurs")
@admin_required
def providers():
    stmt = select(PayeeProvider).order_by(PayeeProvider.name)
    page = db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("dashboards/providers.html", page=page, form=EmptyForm())


@bp.route("/fournisseurs/nouveau", methods=["GET", "POST"])
@admin_required
def provider_new():
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
            return redirect(url_for("dashboards.providers"))
    return render_template("dashboards/provider_form.html", form=form, provider=None)


@bp.route("/fournisseurs/<int:provider_id>", methods=["GET", "POST"])
@admin_required
def provider_edit(provider_id: int):
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
            return redirect(url_for("dashboards.providers"))
    return render_template("dashboards/provider_form.html", form=form, provider=provider)


@bp.route("/fournisseurs/<int:provider_id>/activation", methods=["POST"])
@admin_required
def provider_toggle(provider_id: int):
    provider = get_or_404(PayeeProvider, provider_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    provider_service.set_provider_active(current_user._get_current_object(), provider, not provider.active)
    db.session.commit()
    flash(f"Fournisseur {provider.name} {'réactivé' if provider.active else 'désactivé'}.", "success")
    return redirect(url_for("dashboards.providers"))
