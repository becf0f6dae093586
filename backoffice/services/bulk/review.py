"""A person decides the rows of a bulk batch left NEEDS_REVIEW ("À vérifier").

Processing turns a row into NEEDS_REVIEW when its status-check budget is spent; its amount
stays reserved on the payer account until someone decides. A gestionnaire of the batch's
organisation can:

- `recheck_row`: ask the switch again (GET /transfers/{transferId}) and apply what
  `settlement.decide` says of a NEEDS_REVIEW row: COMMITTED → COMPLETED, ABORTED → FAILED,
  anything else → the row stays NEEDS_REVIEW (nothing is ever resent);
- `resolve_row`: record what they learnt out of band (paid → COMPLETED, not paid →
  FAILED), with a note.

The network call is made with no transaction open. The outcome is then written in one
transaction: the row changes only if it is still NEEDS_REVIEW (compare-and-set), its ledger
share (DEBIT if paid, RELEASE of its reservation) is written by `outcomes.settle_ledger`,
and a final batch gets its status derived again by `finishing.final_status`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import update

from backoffice.clients.mojaloop import StatusResult, TransferState
from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchEvent, BatchRow, BatchStatus, RowStatus
from backoffice.services import PermissionDenied, ServiceError, audit
from backoffice.services.bulk import events, finishing, sending
from backoffice.services.bulk.outcomes import batch_context, settle_ledger, status_counts
from backoffice.services.bulk.settlement import Action, SettlementSettings, check_status, decide
from backoffice.services.search import search_suffix

ROWS = BatchRow.__table__
OUTCOMES = {RowStatus.COMPLETED.value: "payée", RowStatus.FAILED.value: "non payée"}
NOTE_MAX = 500
# Why a recheck leaves a row to the person (French, for the message).
STILL_UNKNOWN = {
    TransferState.PENDING: "le transfert n'est toujours pas finalisé",
    TransferState.NOT_FOUND: "le switch ne connaît pas ce transfert",
}
UNREACHABLE = "le switch n'a pas répondu"


@dataclass(frozen=True)
class ReviewResult:
    outcome: str  # COMPLETED, FAILED, or NEEDS_REVIEW (still unknown)
    message: str  # French, for the flash message
    batch_status: str


def _load(actor: User, row_id: int) -> tuple[BatchRow, Batch]:
    row = db.session.get(BatchRow, row_id)
    if row is None:
        raise ServiceError("Ligne introuvable.")
    batch = row.batch
    if not actor.is_gestionnaire:
        raise PermissionDenied("Seul un gestionnaire peut décider d'une ligne à vérifier.")
    if actor.organisation_id != batch.organisation_id:
        raise PermissionDenied("Ce lot appartient à une autre organisation.")
    if row.status != RowStatus.NEEDS_REVIEW.value:
        raise ServiceError(f"La ligne {row.line_number} n'est pas à vérifier (état : {row.status_label}).")
    return row, batch


def recheck_row(actor: User, row_id: int) -> ReviewResult:
    """Ask the switch again about a NEEDS_REVIEW row and apply its answer (commits)."""
    row, batch = _load(actor, row_id)
    transfer_id, id_type, id_value = row.transfer_id, row.party_id_type, row.party_id_value
    line, batch_id, attempts, checks = row.line_number, batch.id, row.attempts, (row.status_checks or 0) + 1
    db.session.commit()  # no transaction stays open during the network call
    try:
        status, name = check_status(sending.get_client(), transfer_id, id_type, id_value)
    except Exception as exc:  # noqa: BLE001 - the client does not raise; be safe anyway
        status, name = StatusResult(TransferState.UNREACHABLE, transfer_id), None
        detail = repr(exc)
    else:
        detail = status.detail or (f"HTTP {status.http_status}" if status.http_status else "")
    state = status.state
    settings = SettlementSettings.from_config(current_app.config)
    decision = decide(RowStatus.NEEDS_REVIEW, status, attempts, checks, None, settings)
    now = utcnow()
    if decision.action == Action.COMPLETE:
        values = {
            "status": RowStatus.COMPLETED.value,
            "payee_name": name[:200] if name else ROWS.c.payee_name,
            "search_text": ROWS.c.search_text + search_suffix(name[:200]) if name else ROWS.c.search_text,
            "completed_at": now,
            "error_code": None,
            "error_description": None,
        }
        message = f"Ligne {line} revérifiée : le switch confirme le paiement (COMMITTED)."
    elif decision.action == Action.FAIL:
        values = {
            "status": RowStatus.FAILED.value,
            "error_code": decision.error_code[:16],
            "error_description": decision.reason[:500],
            "fee": 0,
        }
        message = f"Ligne {line} revérifiée : le switch confirme l'échec (ABORTED), le montant est libéré."
    else:
        message = f"Ligne {line} revérifiée : issue toujours inconnue ({STILL_UNKNOWN.get(state, UNREACHABLE)})."
        message += " Elle reste à vérifier."
        details = {"state": str(state), "detail": detail[:200]}
        return _apply(actor, batch_id, row_id, None, "row_rechecked", "batch.row_rechecked", message, details, now)
    details = {"state": str(state)}
    return _apply(actor, batch_id, row_id, values, "row_rechecked", "batch.row_rechecked", message, details, now)


def resolve_row(actor: User, row_id: int, outcome: str, note: str) -> ReviewResult:
    """Record a person's decision on a NEEDS_REVIEW row: paid or not paid (commits).

    Never resends anything: the decision only settles the row and its reserved amount.
    """
    row, batch = _load(actor, row_id)
    outcome = (outcome or "").strip().upper()
    if outcome not in OUTCOMES:
        raise ServiceError("Choisissez « Confirmer payé » ou « Confirmer non payé ».", field="outcome")
    note = (note or "").strip()
    if not note:
        raise ServiceError("Une note est obligatoire : indiquez comment l'issue a été vérifiée.", field="note")
    if len(note) > NOTE_MAX:
        raise ServiceError(f"La note dépasse {NOTE_MAX} caractères.", field="note")
    now = utcnow()
    if outcome == RowStatus.COMPLETED.value:
        values = {
            "status": RowStatus.COMPLETED.value,
            "completed_at": now,
            "error_code": None,
            "error_description": f"Confirmé payé par {actor.full_name} : {note}"[:500],
        }
    else:
        values = {
            "status": RowStatus.FAILED.value,
            "error_code": "MANUEL",
            "error_description": f"Confirmé non payé par {actor.full_name} : {note}"[:500],
            "fee": 0,
        }
    message = f"Ligne {row.line_number} confirmée {OUTCOMES[outcome]} par {actor.full_name} : {note}"
    return _apply(actor, batch.id, row.id, values, "row_resolved", "batch.row_resolved", message, {}, now, note)


def _apply(
    actor: User,
    batch_id: int,
    row_id: int,
    values: dict | None,
    event_action: str,
    audit_action: str,
    message: str,
    details: dict,
    now,
    note: str = "",
) -> ReviewResult:
    """One transaction: compare-and-set the row, its ledger share, the batch's status."""
    outcome = RowStatus.NEEDS_REVIEW.value
    ctx = batch_context(batch_id)
    if values is not None:
        # The row first (it also takes SQLite's write lock), then the account, then the batch:
        # the order every ledger settlement takes.
        won = db.session.execute(
            update(ROWS)
            .where(ROWS.c.id == row_id, ROWS.c.status == RowStatus.NEEDS_REVIEW.value)
            .values(**values, next_check_at=None, lease_owner=None, updated_at=now)
        ).rowcount
        if won != 1:
            db.session.rollback()
            raise ServiceError("Cette ligne vient d'être traitée par ailleurs : rechargez la page.")
        outcome = values["status"]
        settle_ledger(ctx, [row_id])  # DEBIT if paid, RELEASE its reserved share
    else:
        won = db.session.execute(
            update(ROWS)
            .where(ROWS.c.id == row_id, ROWS.c.status == RowStatus.NEEDS_REVIEW.value)
            .values(
                status_checks=ROWS.c.status_checks + 1,
                error_description=message[:500],
                updated_at=now,
            )
        ).rowcount
        if won != 1:
            db.session.rollback()
            raise ServiceError("Cette ligne vient d'être traitée par ailleurs : rechargez la page.")
    batch = db.session.get(Batch, batch_id, populate_existing=True)
    before = batch.status
    counts = status_counts(batch_id)
    released = 0
    if values is not None and batch.is_final:
        final = finishing.final_status(counts)
        if final is not None and final.value != batch.status:
            db.session.execute(
                update(Batch)
                .where(Batch.id == batch_id)
                .values(status=final.value)
                .execution_options(synchronize_session=False)
            )
        released, _still = finishing.release_beyond_review(ctx)
    batch = db.session.get(Batch, batch_id, populate_existing=True)
    row = db.session.get(BatchRow, row_id, populate_existing=True)
    full = {
        **details,
        "row_id": row_id,
        "line": row.line_number,
        "outcome": outcome,
        "batch_status_before": before,
        "batch_status": batch.status,
        "needs_review_left": counts.get(RowStatus.NEEDS_REVIEW.value, 0),
        "still_reserved": int(batch.reserved_amount or 0),
    }
    if released:
        full["released_extra"] = released
    if note:
        full["note"] = note
    db.session.add(
        BatchEvent(batch_id=batch_id, user_id=actor.id, action=event_action, message=message[:500], details=full)
    )
    audit.record(
        actor,
        audit_action,
        batch,
        row=row_id,
        line=row.line_number,
        outcome=outcome,
        note=note or None,
        batch_status=batch.status,
    )
    db.session.commit()
    status = batch.status
    if values is not None:
        if status == BatchStatus.PROCESSING.value:
            finishing.finalise_if_done(batch_id)  # normally nothing: other rows are still moving
        events.final_batch_changed(batch_id)
    return ReviewResult(outcome, message, status)
