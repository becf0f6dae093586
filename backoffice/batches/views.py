"""Bulk payment pages: upload, preview and details, the four-eyes actions, history, exports."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from backoffice.batches import bp
from backoffice.batches.forms import (
    ApproveForm,
    EditRowForm,
    ReasonForm,
    RejectForm,
    ResolveRowForm,
    SubmitBatchForm,
    UploadForm,
)
from backoffice.extensions import db
from backoffice.forms import EmptyForm
from backoffice.models.batches import BATCH_STATUS_LABELS, ROW_STATUS_LABELS, Batch, BatchRow, BatchStatus
from backoffice.pages import attachment, csv_options, current_actor, xlsx_download
from backoffice.security import gestionnaire_required, get_for_org, member_required, step_up_refusal
from backoffice.services import ServiceError, approval_rules, attach_error
from backoffice.services.bulk import approval, control, drafts, guard, history, importing, reports, verification
from backoffice.services.bulk import review as review_service
from backoffice.services.bulk.formats import FORMATS, format_name
from backoffice.services.locale import zone_label
from backoffice.services.money import CURRENCIES

# Statuses whose page shows the live progress fragment (the batch is, or was, being paid).
PROGRESS_STATUSES = {
    BatchStatus.APPROVED,
    BatchStatus.PROCESSING,
    BatchStatus.PAUSED,
    BatchStatus.CANCELLING,
    BatchStatus.COMPLETED,
    BatchStatus.PARTIALLY_COMPLETED,
    BatchStatus.FAILED,
}
PREVIEW_PROBLEMS = 50


def _page_size() -> int:
    return current_app.config["PAGE_SIZE"]


@bp.route("/")
@member_required
def index():
    """The organisation's batches, filtered, with completed / failed counts per batch."""
    filters = history.HistoryFilters.from_args(request.args)
    page = db.paginate(
        history.history_query(current_user.organisation_id, filters), per_page=_page_size(), error_out=False
    )
    counts = history.outcome_counts(page.items)
    return render_template(
        "batches/index.html",
        page=page,
        counts=counts,
        filters=filters,
        statuses=BATCH_STATUS_LABELS,
        accounts=importing.payer_accounts(current_user.organisation_id),
        uploaders=history.uploaders(current_user.organisation_id),
    )


@bp.route("/new", methods=["GET", "POST"])
@gestionnaire_required
def new():
    """Upload a file: it is checked row by row and stored as a draft to preview."""
    form = UploadForm()
    form.account_id.choices = [
        (a.id, f"{a.account_id} — {a.label} ({a.currency})")
        for a in importing.payer_accounts(current_user.organisation_id)
    ]
    form.payment_period.choices = guard.period_choices()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            batch = importing.create_from_upload(
                current_actor(),
                form.account_id.data,
                form.label.data,
                upload.stream,
                upload.filename or "",
                payment_period=form.payment_period.data,
            )
        except ServiceError as exc:
            db.session.rollback()
            attach_error(form, exc, "file")
        else:
            db.session.commit()
            flash(f"Fichier importé : lot {batch.reference}. Vérifiez-le avant de le soumettre.", "success")
            return redirect(url_for("batches.detail", batch_id=batch.id))
    return render_template("batches/new.html", form=form, formats=FORMATS)


@bp.route("/<int:batch_id>")
@member_required
def detail(batch_id: int):
    """Preview of a draft, and details of a batch at any stage."""
    batch = get_for_org(Batch, batch_id)
    row_status = request.args.get("status", "").strip().upper()
    q = request.args.get("q", "").strip()
    error_code = request.args.get("error_code", "").strip()[:16]
    stats = history.statistics(batch)
    page = request.args.get("page", 1, type=int) or 1
    sort = history.checked_sort(request.args.get("sort", ""), history.ROW_SORTS, "line")
    rows = history.rows_page(batch, stats, row_status, q, page, _page_size(), error_code, sort)
    # The import counted errors and warnings: no query at all for a clean file.
    errors = warnings = []
    if batch.invalid_count:
        errors = db.session.scalars(history.problem_rows_query(batch, "errors").limit(PREVIEW_PROBLEMS)).all()
    if batch.warning_count:
        warnings = db.session.scalars(history.problem_rows_query(batch, "warnings").limit(PREVIEW_PROBLEMS)).all()
    actor = current_actor()
    match = request.args.get("match", "").strip().upper()
    # Flags and names matter until the batch is paid; afterwards the page reads no more of them.
    before_payment = batch.status in (BatchStatus.DRAFT.value, BatchStatus.PENDING_APPROVAL.value)
    report = guard.report(batch) if before_payment else guard.GuardReport()
    verify = verification.progress(batch) if batch.verification_status and before_payment else None
    return render_template(
        "batches/detail.html",
        period=guard.period_label(batch.payment_period),
        guard_report=report,
        flagged_rows=db.session.scalars(history.flagged_rows_query(batch).limit(PREVIEW_PROBLEMS)).all()
        if report.already_paid
        else [],
        verify=verify,
        can_verify=verification.can_verify(actor, batch),
        verify_required=drafts.verification_required(),
        mismatched=verification.mismatched_rows(batch, match or None) if verify else [],
        match=match,
        repayments=drafts.repayments_of(batch),
        can_repay=actor.is_gestionnaire and batch.status in drafts.REPAYABLE_BATCH_STATUSES,
        approve_form=ApproveForm(),
        reason_form=ReasonForm(),
        edit_form=EditRowForm(),
        batch=batch,
        file_format=format_name(batch.file_format),
        stats=stats,
        rows=rows,
        row_status=row_status,
        q=q,
        error_code=error_code,
        sort=sort,
        row_statuses=ROW_STATUS_LABELS,
        currencies=CURRENCIES,
        errors=errors,
        warnings=warnings,
        preview_limit=PREVIEW_PROBLEMS,
        earlier=importing.earlier_uploads_of_file(batch),
        events=history.timeline(batch),
        show_progress=BatchStatus(batch.status) in PROGRESS_STATUSES or batch.processing_started_at is not None,
        can_pause=control.can_pause(actor, batch),
        can_resume=control.can_resume(actor, batch),
        can_cancel_processing=control.can_cancel_processing(actor, batch),
        can_submit=approval.can_submit(actor, batch),
        can_decide=approval.can_decide(actor, batch),
        can_cancel=approval.can_cancel(actor, batch),
        submit_form=SubmitBatchForm(),
        reject_form=RejectForm(),
        resolve_form=ResolveRowForm(),
        can_review=actor.is_gestionnaire,
        approval_rule=approval_rules.summary(batch),
        form=EmptyForm(),
    )


def _transition(batch_id: int, action, success: str, *args):
    """Run one transition; a refusal is shown on the batch page."""
    batch = get_for_org(Batch, batch_id)
    try:
        action(current_actor(), batch.id, *args)
    except ServiceError as exc:
        flash(str(exc), "danger")
    else:
        flash(success, "success")
    return redirect(url_for("batches.detail", batch_id=batch_id))


APPROVAL_RECORDED = "Votre approbation est enregistrée : un second approbateur doit encore approuver ce lot."


def _step_up_refused(batch_id: int, message: str):
    """Approving or rejecting asks for a recent code (security.step_up_refusal)."""
    get_for_org(Batch, batch_id)
    flash(message, "danger")
    return redirect(url_for("batches.detail", batch_id=batch_id))


@bp.route("/<int:batch_id>/submit", methods=["POST"])
@gestionnaire_required
def submit(batch_id: int):
    form = SubmitBatchForm()
    if not form.validate_on_submit():
        abort(400)
    return _transition(batch_id, approval.submit_batch, "Lot soumis pour approbation.", bool(form.exclude_invalid.data))


@bp.route("/<int:batch_id>/approve", methods=["POST"])
@gestionnaire_required
def approve(batch_id: int):
    form = ApproveForm()
    if not form.validate_on_submit():
        abort(400)
    if refusal := step_up_refusal(request.form.get("code")):
        return _step_up_refused(batch_id, refusal)
    batch = get_for_org(Batch, batch_id)
    try:
        batch = approval.approve_batch(current_actor(), batch.id, form.acknowledgement.data or "")
    except ServiceError as exc:
        flash(str(exc), "danger")
    else:
        waiting = batch.status == BatchStatus.PENDING_APPROVAL.value
        flash(APPROVAL_RECORDED if waiting else "Lot approuvé : le paiement commence.", "success")
    return redirect(url_for("batches.detail", batch_id=batch_id))


@bp.route("/<int:batch_id>/reject", methods=["POST"])
@gestionnaire_required
def reject(batch_id: int):
    form = RejectForm()
    form.validate_on_submit()  # the service says what is missing, in French
    if refusal := step_up_refusal(request.form.get("code")):
        return _step_up_refused(batch_id, refusal)
    return _transition(batch_id, approval.reject_batch, "Lot rejeté.", form.reason.data or "")


@bp.route("/<int:batch_id>/cancel", methods=["POST"])
@gestionnaire_required
def cancel(batch_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _transition(batch_id, approval.cancel_batch, "Lot annulé.")


@bp.route("/<int:batch_id>/pause", methods=["POST"])
@gestionnaire_required
def pause(batch_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _transition(
        batch_id, control.pause_batch, "Paiement mis en pause : les envois en cours se terminent, aucun autre ne part."
    )


@bp.route("/<int:batch_id>/resume", methods=["POST"])
@gestionnaire_required
def resume(batch_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _transition(batch_id, control.resume_batch, "Paiement repris.")


@bp.route("/<int:batch_id>/cancel-processing", methods=["POST"])
@gestionnaire_required
def cancel_processing(batch_id: int):
    """Cancel the rows not sent yet (with a reason); the rows sent settle normally."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _transition(
        batch_id,
        control.cancel_processing,
        "Paiement annulé : les lignes non envoyées sont annulées, les envois en cours se terminent.",
        request.form.get("reason", ""),
    )


def _review_row(batch_id: int, row_id: int) -> BatchRow:
    """The row of a batch of the user's organisation, else 404."""
    batch = get_for_org(Batch, batch_id)
    row = db.session.get(BatchRow, row_id)
    if row is None or row.batch_id != batch.id:
        abort(404)
    return row


@bp.route("/<int:batch_id>/rows/<int:row_id>/recheck", methods=["POST"])
@gestionnaire_required
def recheck_row(batch_id: int, row_id: int):
    """Ask the switch again about a row "À vérifier"."""
    row = _review_row(batch_id, row_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        result = review_service.recheck_row(current_actor(), row.id)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        flash(result.message, "success" if result.outcome != "NEEDS_REVIEW" else "warning")
    return redirect(url_for("batches.detail", batch_id=batch_id))


@bp.route("/<int:batch_id>/rows/<int:row_id>/resolve", methods=["POST"])
@gestionnaire_required
def resolve_row(batch_id: int, row_id: int):
    """Record a person's decision on a row "À vérifier": paid or not paid, with a note."""
    row = _review_row(batch_id, row_id)
    form = ResolveRowForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(" ".join(e for errors in form.errors.values() for e in errors) or "Formulaire invalide.", "danger")
        return redirect(url_for("batches.detail", batch_id=batch_id))
    try:
        result = review_service.resolve_row(current_actor(), row.id, form.outcome.data or "", form.note.data or "")
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        flash(result.message, "success")
    return redirect(url_for("batches.detail", batch_id=batch_id))


def _csv_response(report: str, batch_id: int, filename: str) -> Response:
    """Stream a report page by page, for French Excel unless `?sep=,` (see pages.csv_options).

    Each page is read inside a short app context of its own: no database session or
    request context stays open between two pages of a slow download.
    """
    app = current_app._get_current_object()
    delimiter = _delimiter()

    def generate():
        with app.app_context():
            text = reports.csv_header(report, batch_id, delimiter)
        yield text
        cursor: int | None = 0
        while cursor is not None:
            with app.app_context():
                text, cursor = reports.csv_page(report, batch_id, cursor, delimiter)
            if text:
                yield text

    response = Response(generate(), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = attachment(filename)
    response.headers["Cache-Control"] = "no-store"
    return response


def _delimiter() -> str:
    """`;` (French Excel) by default; `?sep=,` for a comma file. `?sep=semicolon` still reads `;`."""
    separator, _ = csv_options()
    return separator


def _xlsx_response(batch: Batch, report: str, filename: str) -> Response:
    """The report as .xlsx, each page read in a short app context of its own (write-only workbook)."""
    app = current_app._get_current_object()
    lines = reports.report_lines(report, batch.id, app.app_context)
    title = "Rapprochement" if report == "export" else "Erreurs"
    return xlsx_download(title, reports.header(report, batch), lines, batch.organisation.timezone, filename)


@bp.route("/<int:batch_id>/errors.csv")
@member_required
def errors_csv(batch_id: int):
    """Every validation error and warning of the batch, to fix the file."""
    batch = get_for_org(Batch, batch_id)
    return _csv_response("errors", batch.id, f"{batch.reference}-erreurs.csv")


@bp.route("/<int:batch_id>/export.csv")
@member_required
def export_csv(batch_id: int):
    """Reconciliation export: one line per row, streamed."""
    batch = get_for_org(Batch, batch_id)
    return _csv_response("export", batch.id, f"{batch.reference}-rapprochement.csv")


@bp.route("/<int:batch_id>/export.xlsx")
@member_required
def export_xlsx(batch_id: int):
    """Reconciliation export as an Excel workbook: amounts as numbers, dates as dates."""
    batch = get_for_org(Batch, batch_id)
    return _xlsx_response(batch, "export", f"{batch.reference}-rapprochement.xlsx")


@bp.route("/<int:batch_id>/errors.xlsx")
@member_required
def errors_xlsx(batch_id: int):
    """The error report as an Excel workbook."""
    batch = get_for_org(Batch, batch_id)
    return _xlsx_response(batch, "errors", f"{batch.reference}-erreurs.xlsx")


@bp.route("/export.xlsx")
@member_required
def history_xlsx():
    """The history, with the page's filters, as an Excel workbook."""
    filters = history.HistoryFilters.from_args(request.args)
    timezone = current_user.organisation.timezone
    lines = history.history_lines(current_user.organisation_id, filters)
    return xlsx_download(
        "Historique", history.history_header(zone_label(timezone)), lines, timezone, "historique-lots.xlsx"
    )
