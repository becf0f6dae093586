"""Beneficiary lists: browse, create (empty, from a file, from a batch), edit entries, new batch."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from backoffice.extensions import db
from backoffice.forms import EmptyForm
from backoffice.lists import bp
from backoffice.lists.forms import EntryForm, ListForm
from backoffice.models.lists import BeneficiaryEntry, BeneficiaryList
from backoffice.pages import current_actor
from backoffice.security import gestionnaire_required, get_for_org, local_path, member_required
from backoffice.services import ServiceError, attach_error
from backoffice.services import beneficiaries as list_service
from backoffice.services.bulk import lists as bulk_lists
from backoffice.services.bulk.formats import FORMATS
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
    """The list's active entries with editable amounts; the POST creates a draft batch."""
    lst = get_for_org(BeneficiaryList, list_id)
    entries = list_service.active_entries(lst.id)
    accounts = bulk_lists.payer_accounts(lst.organisation_id, lst.currency)
    values = {k: v for k, v in request.form.items() if k.startswith("amount-")}
    amount_errors: dict[int, str] = {}
    error = None
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        overrides, amount_errors = bulk_lists.parse_amount_overrides(values, lst.currency)
        if amount_errors:
            error = "Certains montants sont illisibles : corrigez-les avant de créer le lot."
        else:
            try:
                batch = bulk_lists.create_batch_from_list(
                    current_actor(),
                    lst,
                    request.form.get("account_id", type=int) or 0,
                    request.form.get("label", ""),
                    overrides,
                )
            except ServiceError as exc:
                db.session.rollback()
                error = str(exc)
            else:
                db.session.commit()
                flash(f"Lot {batch.reference} créé depuis la liste : vérifiez-le puis soumettez-le.", "success")
                return redirect(url_for("batches.detail", batch_id=batch.id))
    return render_template(
        "lists/new_batch.html",
        lst=lst,
        entries=entries,
        accounts=accounts,
        values=values,
        amount_errors=amount_errors,
        error=error,
        form=EmptyForm(),
        label=request.form.get("label", f"{lst.name}"),
        account_id=request.form.get("account_id", type=int),
    )
