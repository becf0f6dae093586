"""Beneficiary lists: browse, create (empty, from a file, from a batch), edit entries, new batch."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from backoffice.extensions import db
from backoffice.forms import EmptyForm
from backoffice.lists import bp
from backoffice.lists.forms import AmountChangesForm, EntryForm, ListForm
from backoffice.models.lists import BeneficiaryEntry, BeneficiaryList
from backoffice.pages import current_actor
from backoffice.security import gestionnaire_required, get_for_org, local_path, member_required
from backoffice.services import ServiceError, attach_error
from backoffice.services import beneficiaries as list_service
from backoffice.services.bulk import list_drafts
from backoffice.services.bulk import lists as bulk_lists
from backoffice.services.bulk.formats import FORMATS
from backoffice.services.locale import plural
from backoffice.services.money import format_amount


def _paginate(stmt):
    return db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"], error_out=False)


def _entry_of(lst: BeneficiaryList, entry_id: int) -> BeneficiaryEntry:
    entry = db.session.get(BeneficiaryEntry, entry_id)
    if entry is None or entry.list_id != lst.id:
        abort(404)
    return entry


@bp.route("/listes")
@member_required
def index():
    page = _paginate(list_service.lists_query(current_user.organisation_id))
    figures = list_service.list_figures([lst.id for lst in page.items])
    return render_template("lists/index.html", page=page, figures=figures)


@bp.route("/listes/nouvelle", methods=["GET", "POST"])
@gestionnaire_required
def new():
    form = ListForm()
    batches = list_service.source_batches(current_user.organisation_id)
    form.batch_id.choices = [(0, "—")] + [(b.id, f"{b.reference} — {b.label}") for b in batches]
    if form.validate_on_submit():
        try:
            if form.source.data == "file":
                upload = form.file.data
                if not upload:
                    raise ServiceError("Choisissez un fichier CSV.", field="file")
                lst = bulk_lists.create_list_from_file(
                    current_actor(),
                    form.name.data,
                    form.currency.data,
                    form.description.data,
                    upload.read(current_app.config["IMPORT_MAX_BYTES"] + 1),
                    upload.filename or "",
                )
            elif form.source.data == "batch":
                lst = bulk_lists.create_list_from_batch(
                    current_actor(), form.name.data, form.description.data, form.batch_id.data or 0
                )
            else:
                lst = list_service.create_list(
                    current_actor(), form.name.data, form.currency.data, form.description.data
                )
        except ServiceError as exc:
            db.session.rollback()
            if not attach_error(form, exc, "name"):
                flash(str(exc), "danger")
        else:
            db.session.commit()
            flash(f"Liste « {lst.name} » créée.", "success")
            return redirect(url_for("lists.detail", list_id=lst.id))
    return render_template("lists/form.html", form=form, formats=FORMATS)


@bp.route("/listes/<int:list_id>")
@member_required
def detail(list_id: int):
    lst = get_for_org(BeneficiaryList, list_id)
    q = request.args.get("q", "").strip()
    state = request.args.get("etat", "")
    page = _paginate(list_service.entries_query(lst.id, q, state))
    events = db.session.scalars(list_service.events_query(lst.id).limit(10)).all()
    return render_template("lists/detail.html", lst=lst, page=page, q=q, state=state, events=events, form=EmptyForm())


@bp.route("/listes/<int:list_id>/historique")
@member_required
def history(list_id: int):
    lst = get_for_org(BeneficiaryList, list_id)
    page = _paginate(list_service.events_query(lst.id))
    return render_template("lists/history.html", lst=lst, page=page)


@bp.route("/listes/<int:list_id>/beneficiaires/nouveau", methods=["GET", "POST"])
@gestionnaire_required
def entry_new(list_id: int):
    lst = get_for_org(BeneficiaryList, list_id)
    form = EntryForm()
    if form.validate_on_submit():
        try:
            list_service.add_entry(
                current_actor(),
                lst,
                party_id_type=form.party_id_type.data,
                party_id_value=form.party_id_value.data,
                name=form.name.data or "",
                amount_text=form.default_amount.data,
                note=form.note.data or "",
            )
        except ServiceError as exc:
            attach_error(form, exc, "party_id_value")
        else:
            db.session.commit()
            flash("Bénéficiaire ajouté.", "success")
            return redirect(url_for("lists.detail", list_id=lst.id))
    return render_template("lists/entry_form.html", lst=lst, form=form, entry=None)


@bp.route("/listes/<int:list_id>/beneficiaires/<int:entry_id>", methods=["GET", "POST"])
@gestionnaire_required
def entry_edit(list_id: int, entry_id: int):
    lst = get_for_org(BeneficiaryList, list_id)
    entry = _entry_of(lst, entry_id)
    form = EntryForm(obj=entry)
    if request.method == "GET":
        form.default_amount.data = (
            format_amount(entry.default_amount, lst.currency, False) if entry.default_amount else ""
        )
    if form.validate_on_submit():
        try:
            list_service.update_entry(
                current_actor(),
                lst,
                entry,
                party_id_type=form.party_id_type.data,
                party_id_value=form.party_id_value.data,
                name=form.name.data or "",
                amount_text=form.default_amount.data,
                note=form.note.data or "",
                active=form.active.data,
            )
        except ServiceError as exc:
            attach_error(form, exc, "party_id_value")
        else:
            db.session.commit()
            flash("Bénéficiaire modifié.", "success")
            return redirect(url_for("lists.detail", list_id=lst.id))
    return render_template("lists/entry_form.html", lst=lst, form=form, entry=entry)


@bp.route("/listes/<int:list_id>/beneficiaires/<int:entry_id>/activation", methods=["POST"])
@gestionnaire_required
def entry_toggle(list_id: int, entry_id: int):
    lst = get_for_org(BeneficiaryList, list_id)
    entry = _entry_of(lst, entry_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    list_service.set_entry_active(current_actor(), lst, entry, not entry.active)
    db.session.commit()
    flash(f"Bénéficiaire {'réactivé' if entry.active else 'désactivé'}.", "success")
    return redirect(local_path(request.form.get("next"), url_for("lists.detail", list_id=lst.id)))


@bp.route("/listes/<int:list_id>/nouveau-lot", methods=["GET", "POST"])
@gestionnaire_required
def new_batch(list_id: int):
    """A batch from the list, page by page: the amounts typed on a page are saved in a draft
    (any button saves them), the last button creates a draft batch from the whole list."""
    lst = get_for_org(BeneficiaryList, list_id)
    page = request.args.get("page", 1, type=int)
    label = request.values.get("label", lst.name)
    account_id = request.values.get("account_id", type=int)
    if request.method == "GET":
        return _new_batch_page(lst, page, label, account_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    values = {k: v for k, v in request.form.items() if k.startswith("amount-")}
    try:
        list_drafts.save_page(current_actor(), lst, values)
    except list_drafts.AmountChangesRejected as exc:
        db.session.rollback()
        return _new_batch_page(lst, page, label, account_id, values=values, error=str(exc), problems=exc.problems)
    db.session.commit()
    action = request.form.get("action", "create")  # the create button, or a page button
    if action != "create":
        target = int(action[5:]) if action.startswith("page:") and action[5:].isdigit() else page
        flash("Montants de la page enregistrés.", "success")
        return redirect(url_for("lists.new_batch", list_id=lst.id, page=target, label=label, account_id=account_id))
    try:
        batch = bulk_lists.create_batch_from_list(
            current_actor(), lst, account_id or 0, label, list_drafts.draft_amounts(lst.id, current_user.id)
        )
        list_drafts.discard(lst.id, current_user.id)
    except ServiceError as exc:
        db.session.rollback()
        return _new_batch_page(lst, page, label, account_id, error=str(exc))
    db.session.commit()
    flash(f"Lot {batch.reference} créé depuis la liste : vérifiez-le puis soumettez-le.", "success")
    return redirect(url_for("batches.detail", batch_id=batch.id))


@bp.route("/listes/<int:list_id>/nouveau-lot/modifications", methods=["POST"])
@gestionnaire_required
def new_batch_changes(list_id: int):
    """A CSV of changes (identifiant;montant) into the draft: every line or none."""
    lst = get_for_org(BeneficiaryList, list_id)
    form = AmountChangesForm()
    label = request.form.get("label", lst.name)
    account_id = request.form.get("account_id", type=int)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        message = " ".join(e for errors in form.errors.values() for e in errors) or "Choisissez un fichier CSV."
        return _new_batch_page(lst, 1, label, account_id, error=message, changes_form=form), 400
    upload = form.file.data
    try:
        count = list_drafts.upload_changes(
            current_actor(),
            lst,
            upload.read(list_drafts.MAX_CHANGE_BYTES + 1),
            upload.filename or "",
            lst.organisation.country,
        )
    except list_drafts.AmountChangesRejected as exc:
        db.session.rollback()
        return _new_batch_page(lst, 1, label, account_id, error=str(exc), problems=exc.problems, changes_form=form), 400
    db.session.commit()
    flash(f"{plural(count, 'montant modifié', 'montants modifiés')} depuis le fichier.", "success")
    return redirect(url_for("lists.new_batch", list_id=lst.id, label=label, account_id=account_id))


def _new_batch_page(lst, page, label, account_id, values=None, error=None, problems=(), changes_form=None):
    entries = list_drafts.entries_page(lst.id, page)
    drafts = list_drafts.draft_amounts(lst.id, current_user.id, [e.id for e in entries.items])
    return render_template(
        "lists/new_batch.html",
        lst=lst,
        page=entries,
        drafts=drafts,
        summary=list_drafts.summary(lst.id, current_user.id),
        accounts=bulk_lists.payer_accounts(lst.organisation_id, lst.currency),
        values=values or {},
        amount_errors={p.entry_id: p.reason for p in problems if p.entry_id},
        problems=[p for p in problems if not p.entry_id],
        error=error,
        form=EmptyForm(),
        changes_form=changes_form or AmountChangesForm(),
        label=label,
        account_id=account_id,
    )
