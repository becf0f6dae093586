"""Pages that make a batch trustworthy before it is paid: payee verification, row corrections,
re-payment of failed rows, the beneficiary search and the file templates."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import request as htmx_request

from backoffice.batches import bp
from backoffice.batches.forms import EditRowForm, ReasonForm
from backoffice.extensions import db
from backoffice.forms import EmptyForm
from backoffice.models.batches import NAME_MATCH_LABELS, Batch, BatchRow
from backoffice.pages import STOP_POLLING, current_actor
from backoffice.security import gestionnaire_required, get_for_org, member_required
from backoffice.services import ServiceError
from backoffice.services.bulk import drafts, guard, search, verification
from backoffice.services.bulk.formats import FORMATS_BY_CODE
from backoffice.services.money import to_mojaloop_amount

# One example line per format, in the documented column order (templates to download).
TEMPLATE_EXAMPLES = {
    "standard": {
        "reference": "tx-001",
        "amount": "10000",
        "currency": "XOF",
        "id_type": "MSISDN",
        "id_value": "2290197000001",
    },
    "payment_list": {
        "id_type": "MSISDN",
        "id_value": "2290197000001",
        "currency": "XOF",
        "amount": "25000",
        "name": "Awa Dossou",
    },
    "accounts": {"name": "Awa Dossou", "amount": "1500", "id_value": "123456789"},
    "recipients": {"id_value": "2290197000001", "amount": "12000", "note": "Pension"},
}


@bp.app_template_global("already_paid_message")
def already_paid_message(flag: dict | None) -> str:
    return guard.flag_message(flag) if flag else ""


@bp.app_template_global("name_match_label")
def name_match_label(match: str | None) -> str:
    return NAME_MATCH_LABELS.get(match or "", "—")


@bp.app_template_global("amount_text")
def amount_text(amount: int | None, currency: str) -> str:
    """An amount as a form field shows it (the Mojaloop decimal string)."""
    return to_mojaloop_amount(amount, currency) if amount is not None else ""


@bp.app_template_global("is_repeated_row")
def is_repeated_row(row: BatchRow) -> bool:
    return any(e["message"].startswith("Même bénéficiaire que la ligne") for e in row.errors or [])


def _row(batch_id: int, row_id: int) -> BatchRow:
    batch = get_for_org(Batch, batch_id)
    row = db.session.get(BatchRow, row_id)
    if row is None or row.batch_id != batch.id:
        abort(404)
    return row


def _run(action, *args, success: str, batch_id: int):
    """One service call; a refusal is flashed on the batch page."""
    try:
        action(current_actor(), *args)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(url_for("batches.detail", batch_id=batch_id))


@bp.post("/<int:batch_id>/verify")
@gestionnaire_required
def verify(batch_id: int):
    """Start the lookup of every valid row (GET /parties) in a worker."""
    batch = get_for_org(Batch, batch_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _run(
        verification.start_verification, batch.id, success="Vérification des bénéficiaires lancée.", batch_id=batch.id
    )


@bp.get("/<int:batch_id>/verification")
@member_required
def verification_fragment(batch_id: int):
    """The verification's progress, polled while it runs (286 once it is done)."""
    batch = get_for_org(Batch, batch_id)
    html = render_template("batches/_verification.html", batch=batch, verify=verification.progress(batch))
    if batch.verification_status == verification.RUNNING:
        return html, 200
    headers = {"HX-Refresh": "true"} if htmx_request.htmx else {}
    return html, STOP_POLLING, headers


def _with_reason(batch_id: int, row_id: int, action, success: str):
    """A row action that takes a reason (the service says, in French, when it is missing)."""
    row = _row(batch_id, row_id)
    form = ReasonForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400)
    return _run(action, row.id, form.reason.data or "", success=success, batch_id=batch_id)


@bp.post("/<int:batch_id>/rows/<int:row_id>/exclude")
@gestionnaire_required
def exclude_row(batch_id: int, row_id: int):
    return _with_reason(batch_id, row_id, drafts.exclude_row, "Ligne exclue.")


@bp.post("/<int:batch_id>/rows/<int:row_id>/allow-duplicate")
@gestionnaire_required
def allow_duplicate(batch_id: int, row_id: int):
    return _with_reason(batch_id, row_id, drafts.allow_duplicate, "Doublon autorisé.")


@bp.post("/<int:batch_id>/rows/<int:row_id>/edit")
@gestionnaire_required
def edit_row(batch_id: int, row_id: int):
    row = _row(batch_id, row_id)
    form = EditRowForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(" ".join(e for errors in form.errors.values() for e in errors), "danger")
        return redirect(url_for("batches.detail", batch_id=batch_id))
    return _run(
        drafts.edit_row, row.id, form.id_value.data, form.amount.data, success="Ligne corrigée.", batch_id=batch_id
    )


@bp.post("/<int:batch_id>/repay")
@gestionnaire_required
def repay(batch_id: int):
    """*Relancer les lignes échouées*: a linked draft with new transferIds."""
    batch = get_for_org(Batch, batch_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        new = drafts.repay_failed_rows(current_actor(), batch.id)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return redirect(url_for("batches.detail", batch_id=batch.id))
    db.session.commit()
    flash(f"Lot de relance {new.reference} créé : vérifiez-le, puis soumettez-le.", "success")
    return redirect(url_for("batches.detail", batch_id=new.id))


@bp.get("/search")
@member_required
def search_beneficiary():
    """Every payment of a beneficiary across the organisation's batches and months."""
    q = request.args.get("q", "").strip()
    results = search.search_payments(current_user.organisation_id, q) if q else []
    return render_template("batches/search.html", q=q, results=results, limit=search.MAX_RESULTS)


def _template_lines(format_code: str) -> tuple[str, list[list[str]]]:
    fmt = FORMATS_BY_CODE.get(format_code)
    if fmt is None:
        abort(404)
    example = TEMPLATE_EXAMPLES.get(fmt.code, {})
    return fmt.code, [[c.header for c in fmt.columns], [example.get(c.field, "") for c in fmt.columns]]


@bp.get("/templates/<format_code>.xlsx")
@member_required
def template_xlsx(format_code: str):
    """The same template as an Excel workbook (identifiers as text, so no digit is lost)."""
    import openpyxl

    code, lines = _template_lines(format_code)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Paiements"
    for line in lines:
        sheet.append(line)
    for row in sheet.iter_rows():
        for cell in row:
            cell.number_format = "@"
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = Response(buffer.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f'attachment; filename="modele-{code}.xlsx"'
    return response


@bp.get("/templates/<format_code>.csv")
@member_required
def template_csv(format_code: str):
    """An empty file of a format: its header and one example line."""
    code, lines = _template_lines(format_code)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    response = Response("\ufeff" + buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="modele-{code}.csv"'
    return response
