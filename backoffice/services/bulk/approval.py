"""The four-eyes life of a batch before payment: submit, approve, reject, cancel.

Allowed transitions (one function each, each checking who may act and writing a
BatchEvent and an audit event); TRANSITIONS below is the same table in code:

    DRAFT            → PENDING_APPROVAL   submit_batch   (the uploader)
    DRAFT            → CANCELLED          cancel_batch   (the uploader)
    PENDING_APPROVAL → APPROVED           approve_batch  (another gestionnaire; reserves the total)
    PENDING_APPROVAL → REJECTED           reject_batch   (another gestionnaire; a reason)
    PENDING_APPROVAL → CANCELLED          cancel_batch   (the uploader)

What happens after APPROVED belongs to `services.bulk.chunks` (and the modules it drives).
The transitions commit themselves: the processing queue and the notification mails that
follow must only ever see committed state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import select, update

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchEvent, BatchRow, BatchStatus, RowStatus
from backoffice.services import PermissionDenied, ServiceError, approval_rules, audit, ledger, notifications
from backoffice.services.bulk import chunks, guard
from backoffice.services.locale import plural

# action → (the statuses it may leave from, the status it arrives at)
TRANSITIONS: dict[str, tuple[tuple[BatchStatus, ...], BatchStatus]] = {
    "submit": ((BatchStatus.DRAFT,), BatchStatus.PENDING_APPROVAL),
    "approve": ((BatchStatus.PENDING_APPROVAL,), BatchStatus.APPROVED),
    "reject": ((BatchStatus.PENDING_APPROVAL,), BatchStatus.REJECTED),
    "cancel": ((BatchStatus.DRAFT, BatchStatus.PENDING_APPROVAL), BatchStatus.CANCELLED),
}


def check_gestionnaire(actor: User, organisation_id: int | None = None) -> None:
    """Only a gestionnaire (of the batch's organisation, when given) acts on batches."""
    if not actor.is_gestionnaire:
        raise PermissionDenied("Seul un gestionnaire peut effectuer cette action.")
    if organisation_id is not None and actor.organisation_id != organisation_id:
        raise PermissionDenied("Ce lot appartient à une autre organisation.")


def record_event(
    batch: Batch, actor: User | None, action: str, message: str, details: dict | None = None
) -> BatchEvent:
    """One line of the batch's timeline (the caller commits)."""
    event = BatchEvent(
        batch_id=batch.id,
        user_id=actor.id if actor is not None else None,
        action=action,
        message=message[:500],
        details=details,
    )
    db.session.add(event)
    return event


# Transitions ---------------------------------------------------------------------------


def _lock_batch(batch_id: int) -> Batch:
    """Reload the batch under a row lock, so that two people cannot move it at once."""
    batch = db.session.execute(
        select(Batch).where(Batch.id == batch_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    return batch


@contextmanager
def _locked(batch_id: int) -> Iterator[Batch]:
    """The batch under its row lock; committed when the block ends, rolled back if it raises."""
    batch = _lock_batch(batch_id)
    try:
        yield batch
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def _recorded(batch: Batch, actor: User, action: str, message: str, details: dict | None = None, **audited) -> None:
    """A transition's timeline event and its audit event (`batch.<action>`)."""
    record_event(batch, actor, action, message, details)
    audit.record(actor, f"batch.{action}", batch, reference=batch.reference, **audited)


def _require_status(batch: Batch, *allowed: BatchStatus) -> None:
    if batch.status not in {s.value for s in allowed}:
        raise ServiceError(f"Action impossible : le lot {batch.reference} est « {batch.status_label} ».")


def _move(batch: Batch, action: str) -> None:
    """Change the status as TRANSITIONS[action] says, only if it is still a status it leaves from.

    A compare-and-set: the row lock already serialises transitions on PostgreSQL; the
    conditional UPDATE also holds on SQLite, where FOR UPDATE does nothing, so that an
    approval and a cancellation racing each other can never both win.
    """
    allowed, new_status = TRANSITIONS[action]
    _require_status(batch, *allowed)
    moved = db.session.execute(
        update(Batch)
        .where(Batch.id == batch.id, Batch.status.in_([s.value for s in allowed]))
        .values(status=new_status.value)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise ServiceError(f"Action impossible : le lot {batch.reference} vient de changer d'état.")
    batch.status = new_status.value


def can_submit(actor: User, batch: Batch) -> bool:
    return actor.is_gestionnaire and batch.created_by_id == actor.id and batch.status in TRANSITIONS["submit"][0]


def can_decide(actor: User, batch: Batch) -> bool:
    """Approve or reject: a gestionnaire of the organisation who neither uploaded nor submitted it."""
    return (
        actor.is_gestionnaire
        and actor.organisation_id == batch.organisation_id
        and actor.id not in (batch.created_by_id, batch.submitted_by_id)
        and batch.status in TRANSITIONS["approve"][0]
        and not approval_rules.has_approved(actor, batch)
    )


def can_cancel(actor: User, batch: Batch) -> bool:
    return actor.is_gestionnaire and batch.created_by_id == actor.id and batch.status in TRANSITIONS["cancel"][0]


def submit_batch(actor: User, batch_id: int, exclude_invalid: bool = False) -> Batch:
    """The uploader sends a checked draft for approval; invalid rows need an explicit exclusion."""
    with _locked(batch_id) as batch:
        check_gestionnaire(actor, batch.organisation_id)
        if batch.created_by_id != actor.id:
            raise PermissionDenied("Seul le gestionnaire qui a importé le lot peut le soumettre.")
        _require_status(batch, *TRANSITIONS["submit"][0])
        if batch.valid_count == 0:
            raise ServiceError("Ce lot ne contient aucune ligne valide : il ne peut pas être soumis.")
        if batch.invalid_count and not exclude_invalid:
            raise ServiceError(
                f"Ce lot contient {plural(batch.invalid_count, 'ligne invalide')} : cochez « Exclure les lignes "
                "invalides » pour le soumettre sans elles, ou corrigez le fichier et importez-le à nouveau.",
                field="exclude_invalid",
            )
        if current_app.config["BATCH_VERIFY_REQUIRED"] and batch.verification_status != "DONE":
            raise ServiceError(
                "Les bénéficiaires doivent être vérifiés auprès de Mojaloop avant la soumission : "
                "lancez la vérification et attendez qu'elle se termine.",
                field="verification",
            )
        guard.lock_period(batch.organisation_id, batch.payment_period)
        skipped = 0
        if batch.invalid_count:
            skipped = db.session.execute(
                update(BatchRow)
                .where(BatchRow.batch_id == batch.id, BatchRow.status == RowStatus.INVALID.value)
                .values(status=RowStatus.SKIPPED.value)
                .execution_options(synchronize_session=False)
            ).rowcount
        batch.exclude_invalid = bool(skipped)
        _move(batch, "submit")
        batch.submitted_by_id = actor.id
        batch.submitted_at = utcnow()
        flagged = guard.flag_already_paid(batch)
        message = "Lot soumis pour approbation."
        if skipped:
            message += f" {plural(skipped, 'ligne invalide exclue')}."
        if flagged:
            message += f" {plural(flagged, 'ligne déjà payée', 'lignes déjà payées')} pour cette période."
        details = {"skipped": skipped, "already_paid": flagged}
        _recorded(batch, actor, "submitted", message, details, **details)
    notifications.batch_submitted(batch.id)
    return batch


def approve_batch(actor: User, batch_id: int, acknowledgement: str = "") -> Batch:
    """A second gestionnaire approves: the total is reserved on the payer account, then paid.

    The double-payment guard runs again inside this transaction, under the lock of the
    organisation's payment period: rows already paid (or being paid) for the period, a
    content identical to an earlier batch, or names *Discordant* need to be excluded
    beforehand or acknowledged with a reason (`acknowledgement`), which is recorded.
    Above the organisation's rule (services.approval_rules), two distinct approvers are
    needed: the first approval is recorded and the batch waits; the reservation happens at
    the last one, within the day's limit. The reservation, the new status and the events land in one transaction; the
    processing is queued only once that transaction is committed.
    """
    with _locked(batch_id) as batch:
        check_gestionnaire(actor, batch.organisation_id)
        _require_status(batch, *TRANSITIONS["approve"][0])
        if actor.id in (batch.created_by_id, batch.submitted_by_id):
            raise PermissionDenied(
                "Un lot doit être approuvé par un autre gestionnaire que celui qui l'a importé ou soumis."
            )
        # The day's limit first: no acknowledgement lifts it.
        approval_rules.check_daily_limit(batch)
        guard.lock_period(batch.organisation_id, batch.payment_period)
        guard.flag_already_paid(batch)
        found = guard.report(batch)
        acknowledgement = (acknowledgement or "").strip()
        if found.needs_acknowledgement and not acknowledgement:
            # The flags just computed are kept so that the page shows them.
            db.session.commit()
            raise ServiceError(
                "Approbation impossible sans justification : "
                + " ; ".join(found.reasons())
                + ". Excluez ces lignes, ou confirmez en indiquant le motif.",
                field="acknowledgement",
            )
        if found.needs_acknowledgement:
            batch.acknowledgement = acknowledgement[:2000]
            batch.acknowledged_by_id = actor.id
            batch.acknowledged_at = utcnow()
            details = {
                "reason": acknowledgement,
                "already_paid": found.already_paid,
                "discordant": found.discordant,
                "same_content_as": [b.reference for b in found.same_content],
            }
            # Audit action in the `batch.<action>` style (the existing transitions follow
            # whatever `_recorded` writes).
            record_event(
                batch,
                actor,
                "acknowledged",
                f"Alertes confirmées par l'approbateur ({' ; '.join(found.reasons())}) : {acknowledgement}",
                details,
            )
            audit.record(actor, "batch.acknowledged", batch, reference=batch.reference, **details)
        if not approval_rules.record_approval(actor, batch):
            message = "Première approbation enregistrée : ce lot demande un second approbateur."
            _recorded(batch, actor, "approval_recorded", message)
            return batch
        _move(batch, "approve")
        ledger.reserve(batch.account_id, batch.total_amount, reference=batch.reference, actor=actor)
        batch.reserved_amount = batch.total_amount
        batch.approved_by_id = actor.id
        batch.approved_at = utcnow()
        message = "Lot approuvé ; le montant total est réservé sur le compte payeur."
        _recorded(batch, actor, "approved", message, reserved=batch.total_amount)
    chunks.start_processing(batch.id)
    notifications.batch_approved(batch.id)
    return batch


def reject_batch(actor: User, batch_id: int, reason: str) -> Batch:
    """A second gestionnaire refuses the batch, saying why."""
    with _locked(batch_id) as batch:
        check_gestionnaire(actor, batch.organisation_id)
        _require_status(batch, *TRANSITIONS["reject"][0])
        if actor.id in (batch.created_by_id, batch.submitted_by_id):
            raise PermissionDenied("Un lot doit être rejeté par un autre gestionnaire que celui qui l'a importé.")
        reason = (reason or "").strip()
        if not reason:
            raise ServiceError("Le motif du rejet est obligatoire.", field="reason")
        _move(batch, "reject")
        batch.rejected_by_id = actor.id
        batch.rejected_at = utcnow()
        batch.rejection_reason = reason[:2000]
        _recorded(batch, actor, "rejected", f"Lot rejeté : {reason}", {"reason": reason}, reason=reason)
    notifications.batch_rejected(batch.id)
    return batch


def cancel_batch(actor: User, batch_id: int) -> Batch:
    """The uploader withdraws the batch, until it is approved."""
    with _locked(batch_id) as batch:
        check_gestionnaire(actor, batch.organisation_id)
        if batch.created_by_id != actor.id:
            raise PermissionDenied("Seul le gestionnaire qui a importé le lot peut l'annuler.")
        _move(batch, "cancel")
        batch.cancelled_by_id = actor.id
        batch.cancelled_at = utcnow()
        _recorded(batch, actor, "cancelled", "Lot annulé par le gestionnaire qui l'a importé.")
    return batch
