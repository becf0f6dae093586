"""Changing a batch before it is paid: exclude a row, allow a repeated beneficiary, correct a
row of a draft, and re-pay the failed rows of a finished batch as a linked draft.

Every change checks the row again with the import's own rules, keeps the row's history
(a timeline event with the values before and after) and writes an audit event; the
caller commits.
"""

from __future__ import annotations

from uuid import uuid4

from flask import current_app
from sqlalchemy import insert, select

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchRow, BatchStatus, RowStatus
from backoffice.services import PermissionDenied, ServiceError, audit, parties, search
from backoffice.services.bulk.approval import check_gestionnaire, record_event
from backoffice.services.bulk.importing import duplicate_message
from backoffice.services.bulk.verification import recount
from backoffice.services.locale import plural
from backoffice.services.money import AmountError, format_amount, parse_amount

MAX_REASON = 200
# Rows a re-payment takes again: the switch or the payee said no.
REPAYABLE_ROW_STATUSES = (RowStatus.FAILED.value,)
REPAYABLE_BATCH_STATUSES = (BatchStatus.PARTIALLY_COMPLETED.value, BatchStatus.FAILED.value)


def _row_of(actor: User, row_id: int, *statuses: BatchStatus) -> tuple[Batch, BatchRow]:
    row = db.session.get(BatchRow, row_id)
    if row is None:
        raise ServiceError("Ligne introuvable.")
    batch = db.session.execute(
        select(Batch).where(Batch.id == row.batch_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    check_gestionnaire(actor, batch.organisation_id)
    if batch.status not in {s.value for s in statuses}:
        raise ServiceError(f"Action impossible : le lot {batch.reference} est « {batch.status_label} ».")
    db.session.refresh(row)
    return batch, row


def _reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(f"Le motif est obligatoire pour {what}.", field="reason")
    return reason[:MAX_REASON]


def _history(batch: Batch, actor: User, action: str, row: BatchRow, message: str, **details) -> None:
    details = {"row_id": row.id, "line": row.line_number, **details}
    record_event(batch, actor, action, message, details)
    audit.record(actor, f"batch.{action}", batch, reference=batch.reference, **details)


def exclude_row(actor: User, row_id: int, reason: str) -> BatchRow:
    """Leave a row out of the payment (a draft, or a batch waiting for approval), with a reason."""
    batch, row = _row_of(actor, row_id, BatchStatus.DRAFT, BatchStatus.PENDING_APPROVAL)
    if batch.status == BatchStatus.DRAFT.value and batch.created_by_id != actor.id:
        raise PermissionDenied("Seul le gestionnaire qui a importé le lot peut en exclure des lignes.")
    if row.status not in (RowStatus.PENDING.value, RowStatus.INVALID.value):
        raise ServiceError("Cette ligne est déjà exclue.")
    reason = _reason(reason, "exclure une ligne")
    before = row.status
    row.status = RowStatus.SKIPPED.value
    row.errors = [*(row.errors or []), {"field": "exclusion", "message": f"Exclue par {actor.full_name} : {reason}"}]
    row.updated_at = utcnow()
    db.session.flush()
    recount(batch)
    _history(
        batch, actor, "row_excluded", row, f"Ligne {row.line_number} exclue : {reason}", reason=reason, before=before
    )
    return row


def allow_duplicate(actor: User, row_id: int, reason: str) -> BatchRow:
    """The uploader says a repeated beneficiary of the file is meant (two payments), with a reason."""
    batch, row = _row_of(actor, row_id, BatchStatus.DRAFT)
    if batch.created_by_id != actor.id:
        raise PermissionDenied("Seul le gestionnaire qui a importé le lot peut autoriser un doublon.")
    others = [e for e in row.errors or [] if not e["message"].startswith("Même bénéficiaire que la ligne")]
    if len(others) == len(row.errors or []):
        raise ServiceError("Cette ligne n'est pas un doublon d'une autre ligne du fichier.")
    reason = _reason(reason, "autoriser un doublon")
    row.duplicate_reason = reason
    row.errors = others or None
    row.status = RowStatus.INVALID.value if others else RowStatus.PENDING.value
    row.warnings = [
        *(row.warnings or []),
        {"field": "partyIdentifier", "message": f"Doublon autorisé par {actor.full_name} : {reason}"},
    ]
    row.updated_at = utcnow()
    db.session.flush()
    recount(batch)
    batch.verification_status = "" if batch.verification_status == "DONE" else batch.verification_status
    _history(
        batch, actor, "duplicate_allowed", row, f"Ligne {row.line_number} : doublon autorisé ({reason}).", reason=reason
    )
    return row


def edit_row(actor: User, row_id: int, id_value: str | None, amount_text: str | None) -> BatchRow:
    """Correct a draft row's identifier and/or amount; the row is checked again and verified again."""
    batch, row = _row_of(actor, row_id, BatchStatus.DRAFT)
    if batch.created_by_id != actor.id:
        raise PermissionDenied("Seul le gestionnaire qui a importé le lot peut le corriger.")
    if row.status == RowStatus.SKIPPED.value:
        raise ServiceError("Cette ligne est exclue : elle ne peut plus être corrigée.")
    before = {"id_value": row.party_id_value, "amount": row.amount}
    errors: list[dict] = []
    warnings: list[dict] = []
    value = row.party_id_value if id_value is None or not id_value.strip() else id_value
    checked = parties.check_identifier(row.party_id_type, value, batch.organisation.country)
    if checked.problem:
        raise ServiceError(parties.row_message(checked.problem, row.party_id_type, checked.value), field="id_value")
    if checked.warning:
        warnings.append({"field": "partyIdentifier", "message": checked.warning})
    amount = row.amount
    if amount_text is not None and amount_text.strip():
        try:
            amount = parse_amount(amount_text, batch.currency)
        except AmountError as exc:
            raise ServiceError(str(exc)[:1].upper() + str(exc)[1:], field="amount") from exc
    if amount is None:
        raise ServiceError("Le montant est obligatoire.", field="amount")
    if row.currency != batch.currency:
        errors.append({"field": "currency", "message": f"Devise {row.currency} différente de celle du compte payeur."})
    twin = db.session.scalar(
        select(BatchRow.line_number).where(
            BatchRow.batch_id == batch.id,
            BatchRow.id != row.id,
            BatchRow.party_id_type == row.party_id_type,
            BatchRow.party_id_value == checked.value,
            BatchRow.status != RowStatus.SKIPPED.value,
        )
    )
    if twin is not None and not row.duplicate_reason:
        errors.append(
            {"field": "partyIdentifier", "message": duplicate_message(twin, row.party_id_type, checked.value)}
        )
    row.party_id_value = checked.value
    row.search_text = search.row_search_text(row.party_id_value, row.name, row.payee_name)
    row.party_id_written = checked.written
    row.amount = amount
    row.errors = errors or None
    row.warnings = warnings or None
    row.status = RowStatus.INVALID.value if errors else RowStatus.PENDING.value
    row.lookup_status = row.lookup_name = row.lookup_fsp_id = row.name_match = None
    row.name_score = None
    row.updated_at = utcnow()
    db.session.flush()
    recount(batch)
    if batch.verification_status == "DONE":
        batch.verification_status = ""  # the corrected row must be looked up again
    after = {"id_value": row.party_id_value, "amount": row.amount}
    message = (
        f"Ligne {row.line_number} corrigée : {before['id_value']} → {after['id_value']}, "
        f"{format_amount(before['amount'], batch.currency) if before['amount'] is not None else '—'} → "
        f"{format_amount(after['amount'], batch.currency)}."
    )
    _history(batch, actor, "row_edited", row, message, before=before, after=after)
    return row


def repay_failed_rows(actor: User, batch_id: int, label: str = "") -> Batch:
    """A linked DRAFT with the failed rows of a finished batch, each under a new transferId.

    It goes through the same checks as an upload (identifier, verification, the double-payment
    guard, four eyes); the original's rows are not touched.
    """
    original = db.session.get(Batch, batch_id)
    if original is None:
        raise ServiceError("Lot introuvable.")
    check_gestionnaire(actor, original.organisation_id)
    if original.status not in REPAYABLE_BATCH_STATUSES:
        raise ServiceError("Seul un lot terminé avec des lignes échouées peut être relancé.")
    failed = db.session.scalars(
        select(BatchRow)
        .where(BatchRow.batch_id == original.id, BatchRow.status.in_(REPAYABLE_ROW_STATUSES))
        .order_by(BatchRow.line_number)
    ).all()
    if not failed:
        raise ServiceError("Ce lot n'a aucune ligne échouée à relancer.")
    now = utcnow()
    batch = Batch(
        organisation_id=original.organisation_id,
        account_id=original.account_id,
        reference=f"TMP-{uuid4().hex[:24]}",
        label=((label or "").strip() or f"Relance de {original.reference}")[:200],
        status=BatchStatus.DRAFT.value,
        currency=original.currency,
        file_name=original.file_name,
        file_format=original.file_format,
        payment_period=original.payment_period,
        repay_of_id=original.id,
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(batch)
    db.session.flush()
    batch.reference = f"LOT-{now:%Y%m%d}-{batch.id:04d}"
    rows = [
        {
            "batch_id": batch.id,
            "line_number": r.line_number,
            "status": RowStatus.PENDING.value,
            "party_id_type": r.party_id_type,
            "party_id_value": r.party_id_value,
            "amount": r.amount,
            "currency": r.currency,
            "name": r.name,
            "note": r.note,
            "source_reference": "",
            "warnings": [
                {"field": "transferId", "message": f"Relance de la ligne {r.line_number} ({r.error_code or 'échec'})."}
            ],
            "transfer_id": str(uuid4()),
            "home_transaction_id": f"{batch.reference}-{r.line_number}",
            "fee": 0,
            "attempts": 0,
            "status_checks": 0,
            "settled": False,
        }
        for r in failed
    ]
    db.session.execute(insert(BatchRow), rows)
    batch.row_count = len(rows)
    recount(batch)
    message = f"Relance {'de la' if len(rows) == 1 else 'des'} {plural(len(rows), 'ligne échouée')} du lot {original.reference}."
    record_event(batch, actor, "repay_created", message, {"repay_of": original.reference, "rows": len(rows)})
    record_event(
        original,
        actor,
        "repaid",
        f"Lignes échouées relancées dans le lot {batch.reference}.",
        {"repay": batch.reference},
    )
    audit.record(
        actor, "batch.repay_created", batch, reference=batch.reference, repay_of=original.reference, rows=len(rows)
    )
    db.session.flush()
    return batch


def repayments_of(batch: Batch) -> list[Batch]:
    return list(db.session.scalars(select(Batch).where(Batch.repay_of_id == batch.id).order_by(Batch.id)))


def verification_required() -> bool:
    return bool(current_app.config["BATCH_VERIFY_REQUIRED"])
