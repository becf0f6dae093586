"""Platform administration: organisations, users and payer accounts."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select

from backoffice.admin import bp
from backoffice.admin.forms import (
    AccountForm,
    ApprovalRuleForm,
    OrganisationForm,
    RoleForm,
    TopUpDecisionForm,
    TopUpForm,
    UserForm,
)
from backoffice.extensions import db
from backoffice.forms import EmptyForm
from backoffice.models import Account, LedgerEntry, Organisation, User
from backoffice.models.approvals import TopUpRequest
from backoffice.pages import current_actor
from backoffice.security import admin_required, get_or_404, step_up_refusal
from backoffice.services import ServiceError, approval_rules, attach_error, search, twofactor
from backoffice.services import organisations as org_service
from backoffice.services import users as user_service
from backoffice.services.money import AmountError, parse_amount


def _paginate(stmt):
    return db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"], error_out=False)


def _organisation_choices() -> list[tuple[int, str]]:
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.code)).all()
    return [(o.id, f"{o.code} — {o.name}") for o in orgs]


# Organisations -------------------------------------------------------------------------


@bp.route("/organisations")
@admin_required
def organisations():
    q = request.args.get("q", "").strip()
    stmt = select(Organisation).order_by(Organisation.code)
    if q:
        stmt = stmt.where(or_(search.matches(Organisation.code, q), search.matches(Organisation.name, q)))
    return render_template("admin/organisations.html", page=_paginate(stmt), q=q, form=EmptyForm())


@bp.route("/organisations/nouvelle", methods=["GET", "POST"])
@admin_required
def organisation_new():
    form = OrganisationForm()
    if form.validate_on_submit():
        try:
            org = org_service.create_organisation(
                current_actor(), form.code.data, form.name.data, form.timezone.data, form.country.data or ""
            )
        except ServiceError as exc:
            attach_error(form, exc, "code")
        else:
            db.session.commit()
            flash(f"Organisation {org.code} créée.", "success")
            return redirect(url_for("admin.organisations"))
    return render_template("admin/organisation_form.html", form=form, organisation=None)


@bp.route("/organisations/<int:org_id>", methods=["GET", "POST"])
@admin_required
def organisation_edit(org_id: int):
    organisation = get_or_404(Organisation, org_id)
    form = OrganisationForm(obj=organisation)
    form.code.render_kw = {"readonly": True}
    if form.validate_on_submit():
        try:
            org_service.update_organisation(
                current_actor(), organisation, form.name.data, form.timezone.data, form.country.data or ""
            )
        except ServiceError as exc:
            attach_error(form, exc, "name")
        else:
            db.session.commit()
            flash("Organisation modifiée.", "success")
            return redirect(url_for("admin.organisations"))
    return render_template("admin/organisation_form.html", form=form, organisation=organisation)


@bp.route("/organisations/<int:org_id>/activation", methods=["POST"])
@admin_required
def organisation_toggle(org_id: int):
    organisation = get_or_404(Organisation, org_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    org_service.set_organisation_active(current_actor(), organisation, not organisation.active)
    db.session.commit()
    flash(f"Organisation {organisation.code} {'réactivée' if organisation.active else 'désactivée'}.", "success")
    return redirect(url_for("admin.organisations"))


@bp.route("/organisations/<int:org_id>/regles", methods=["GET", "POST"])
@admin_required
def organisation_rules(org_id: int):
    """Approval rules per currency: two approvers above a total, a most-per-day total (step-up to change)."""
    organisation = get_or_404(Organisation, org_id)
    form = ApprovalRuleForm()
    if form.validate_on_submit():
        amounts = {}
        for name in ("dual_above", "daily_limit"):
            text = (getattr(form, name).data or "").strip()
            try:
                amounts[name] = parse_amount(text, form.currency.data) if text else None
            except AmountError as exc:
                message = str(exc)
                getattr(form, name).errors = [message[:1].upper() + message[1:] + "."]
        refusal = None if form.errors else step_up_refusal(request.form.get("code"))
        if refusal:
            form.currency.errors = [refusal]
        elif not any(f.errors for f in form):
            try:
                approval_rules.set_rule(current_actor(), organisation, form.currency.data, **amounts)
            except ServiceError as exc:
                attach_error(form, exc, "currency")
            else:
                db.session.commit()
                flash(f"Règle d'approbation {form.currency.data} enregistrée.", "success")
                return redirect(url_for("admin.organisation_rules", org_id=organisation.id))
    return render_template(
        "admin/organisation_rules.html",
        organisation=organisation,
        rules=approval_rules.rules_of(organisation.id),
        form=form,
    )


# Users ---------------------------------------------------------------------------------


@bp.route("/utilisateurs")
@admin_required
def users():
    q = request.args.get("q", "").strip()
    org = request.args.get("organisation", type=int)
    stmt = user_service.search_users(q, org)
    return render_template(
        "admin/users.html", page=_paginate(stmt), q=q, org=org, organisations=_organisation_choices()
    )


@bp.route("/utilisateurs/nouveau", methods=["GET", "POST"])
@admin_required
def user_new():
    form = UserForm()
    form.organisation_id.choices = [(0, "— Aucune (administrateur) —"), *_organisation_choices()]
    if form.validate_on_submit():
        try:
            user, _link = user_service.create_user(
                current_actor(),
                email=form.email.data,
                first_name=form.first_name.data,
                last_name=form.last_name.data,
                phone=form.phone.data,
                role=form.role.data,
                organisation_id=form.organisation_id.data or None,
                is_admin=form.is_admin.data,
            )
        except ServiceError as exc:
            attach_error(form, exc, "organisation_id")
        else:
            db.session.commit()
            flash(f"Utilisateur créé : une invitation a été envoyée à {user.email}.", "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/user_form.html", form=form)


@bp.route("/utilisateurs/<int:user_id>")
@admin_required
def user_detail(user_id: int):
    user = get_or_404(User, user_id)
    return render_template("admin/user_detail.html", user=user, role_form=RoleForm(role=user.role), form=EmptyForm())


@bp.route("/utilisateurs/<int:user_id>/activation", methods=["POST"])
@admin_required
def user_toggle(user_id: int):
    user = get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        user_service.set_active(current_actor(), user, not user.active)
    except ServiceError as exc:
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(f"Utilisateur {'réactivé' if user.active else 'désactivé'}.", "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.route("/utilisateurs/<int:user_id>/mot-de-passe", methods=["POST"])
@admin_required
def user_reset_password(user_id: int):
    user = get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    user_service.reset_password(current_actor(), user)
    db.session.commit()
    flash(f"Mot de passe réinitialisé : un lien pour en choisir un nouveau a été envoyé à {user.email}.", "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.route("/utilisateurs/<int:user_id>/invitation", methods=["POST"])
@admin_required
def user_resend_invitation(user_id: int):
    user = get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        user_service.resend_invitation(current_actor(), user)
    except ServiceError as exc:
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(f"Invitation envoyée à nouveau à {user.email}.", "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.route("/utilisateurs/<int:user_id>/double-authentification", methods=["POST"])
@admin_required
def user_reset_second_factor(user_id: int):
    """A lost phone: the user enrols again at next sign-in; every session of theirs ends."""
    user = get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    twofactor.reset(current_actor(), user)
    db.session.commit()
    flash("Double authentification réinitialisée : l'utilisateur l'activera à sa prochaine connexion.", "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.route("/utilisateurs/<int:user_id>/role", methods=["POST"])
@admin_required
def user_role(user_id: int):
    user = get_or_404(User, user_id)
    form = RoleForm()
    if form.validate_on_submit():
        user_service.change_role(current_actor(), user, form.role.data)
        db.session.commit()
        flash("Rôle modifié.", "success")
    else:
        flash("Rôle invalide.", "danger")
    return redirect(url_for("admin.user_detail", user_id=user.id))


# Payer accounts ------------------------------------------------------------------------


@bp.route("/comptes")
@admin_required
def accounts():
    stmt = select(Account).join(Organisation).order_by(Organisation.code, Account.account_id)
    return render_template("admin/accounts.html", page=_paginate(stmt))


@bp.route("/comptes/nouveau", methods=["GET", "POST"])
@admin_required
def account_new():
    form = AccountForm()
    form.organisation_id.choices = _organisation_choices()
    if form.validate_on_submit():
        try:
            account = org_service.create_account(
                current_actor(),
                organisation_id=form.organisation_id.data,
                account_id=form.account_id.data,
                label=form.label.data or "",
                currency=form.currency.data,
                party_id_type=form.party_id_type.data,
                party_id_value=form.party_id_value.data,
            )
        except ServiceError as exc:
            attach_error(form, exc, "account_id")
        else:
            db.session.commit()
            flash(f"Compte {account.account_id} créé.", "success")
            return redirect(url_for("admin.account_detail", account_id=account.id))
    return render_template("admin/account_form.html", form=form)


@bp.route("/comptes/<int:account_id>")
@admin_required
def account_detail(account_id: int):
    account = get_or_404(Account, account_id)
    stmt = select(LedgerEntry).where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id.desc())
    return render_template("admin/account_detail.html", account=account, page=_paginate(stmt))


@bp.route("/comptes/<int:account_id>/approvisionnement", methods=["GET", "POST"])
@admin_required
def account_topup(account_id: int):
    """Ask for a top-up; another admin approves it (admin.top_ups) before the balance moves."""
    account = get_or_404(Account, account_id)
    form = TopUpForm()
    if form.validate_on_submit():
        try:
            amount = parse_amount(form.amount.data, account.currency)
            org_service.request_top_up(current_actor(), account, amount, form.reason.data)
        except AmountError as exc:
            message = str(exc)
            form.amount.errors = [*form.amount.errors, message[:1].upper() + message[1:] + "."]
        except ServiceError as exc:
            attach_error(form, exc, "reason")
        else:
            db.session.commit()
            flash("Demande d'approvisionnement enregistrée : un autre administrateur doit l'approuver.", "success")
            return redirect(url_for("admin.account_detail", account_id=account.id))
    return render_template("admin/account_topup.html", form=form, account=account)


# Top-up requests (four eyes on money coming in) -----------------------------------------


@bp.route("/approvisionnements")
@admin_required
def top_ups():
    return render_template(
        "admin/top_ups.html", page=_paginate(org_service.pending_top_ups()), form=TopUpDecisionForm()
    )


def _decide_top_up(top_up_id: int, decide, success: str, step_up: bool):
    top_up = get_or_404(TopUpRequest, top_up_id)
    form = TopUpDecisionForm()
    if not form.validate_on_submit():
        flash(" ".join(form.reason.errors) or "Requête invalide.", "danger")
        return redirect(url_for("admin.top_ups"))
    if step_up and (refusal := step_up_refusal(request.form.get("code"))):
        flash(refusal, "danger")
        return redirect(url_for("admin.top_ups"))
    try:
        decide(current_actor(), top_up.id, form.reason.data)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(url_for("admin.top_ups"))


@bp.route("/approvisionnements/<int:top_up_id>/approuver", methods=["POST"])
@admin_required
def top_up_approve(top_up_id: int):
    return _decide_top_up(top_up_id, org_service.approve_top_up, "Approvisionnement approuvé : compte crédité.", True)


@bp.route("/approvisionnements/<int:top_up_id>/refuser", methods=["POST"])
@admin_required
def top_up_refuse(top_up_id: int):
    return _decide_top_up(top_up_id, org_service.refuse_top_up, "Approvisionnement refusé.", False)
