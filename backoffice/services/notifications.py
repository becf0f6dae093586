"""Email notifications about batches, sent from RQ jobs so that no request waits on SMTP.

Each function is called by a service AFTER its transaction is committed. It only puts a job
on the queue (`backoffice.jobs.notifications`, named by its path so that no service imports
the jobs); the worker writes the messages from the batch as it is then, and sends each one
in its own job, retried on failure.
"""

from __future__ import annotations

import logging

from flask import current_app
from rq import Retry
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.jobs import queue
from backoffice.models import User
from backoffice.models.batches import ROW_STATUS_LABELS, Batch, BatchRow, RowStatus
from backoffice.models.users import Role
from backoffice.services.locale import format_datetime, format_number, plural, zone_label
from backoffice.services.money import format_amount

log = logging.getLogger(__name__)

KINDS = ("submitted", "approved", "rejected", "finished")
NOTIFY_JOB = "backoffice.jobs.notifications.notify_batch"


def batch_submitted(batch_id: int) -> None:
    """Tell the organisation's other gestionnaires that a batch waits for their approval."""
    _enqueue("submitted", batch_id)


def batch_approved(batch_id: int) -> None:
    """Tell the uploader that their batch was approved."""
    _enqueue("approved", batch_id)


def batch_rejected(batch_id: int) -> None:
    """Tell the uploader that their batch was rejected, with the reason."""
    _enqueue("rejected", batch_id)


def batch_finished(batch_id: int) -> None:
    """Tell the uploader that their batch is finished, with its counts (services/bulk/events.py
    calls it with the batch's other "finished" effects)."""
    _enqueue("finished", batch_id)


def retry_policy() -> Retry:
    """Retries when SMTP (or the database) refuses: by default 5, over about ten minutes."""
    intervals = current_app.config["NOTIFICATION_RETRY_SECONDS"] or [10]
    return Retry(max=len(intervals), interval=intervals)


def _enqueue(kind: str, batch_id: int) -> None:
    """Queue the job; a queue that cannot be reached is logged, never raised into a request."""
    try:
        queue.enqueue(NOTIFY_JOB, kind, batch_id, retry=retry_policy(), job_timeout=120)
    except Exception:  # noqa: BLE001 - a notification must never fail the action that caused it
        log.exception("could not queue the %s notification of batch %s", kind, batch_id)


# Writing the messages (run by the worker) ------------------------------------------------


def batch_link(batch: Batch) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/batches/{batch.id}"


def _uploader(batch: Batch) -> User | None:
    user = db.session.get(User, batch.submitted_by_id or batch.created_by_id)
    return user if user is not None and user.active else None


def recipients(kind: str, batch: Batch) -> list[User]:
    """Who is told: the organisation's other active gestionnaires on submission, else the uploader."""
    if kind == "submitted":
        submitter = batch.submitted_by_id or batch.created_by_id
        return list(
            db.session.scalars(
                select(User)
                .where(
                    User.organisation_id == batch.organisation_id,
                    User.role == Role.GESTIONNAIRE.value,
                    User.is_admin.is_(False),
                    User.active.is_(True),
                    User.id != submitter,
                )
                .order_by(User.id)
            )
        )
    uploader = _uploader(batch)
    return [uploader] if uploader is not None else []


def row_counts(batch_id: int) -> dict[str, int]:
    return dict(
        db.session.execute(
            select(BatchRow.status, func.count()).where(BatchRow.batch_id == batch_id).group_by(BatchRow.status)
        ).all()
    )


# How each row outcome reads in a sentence: « 2 lignes payées », « 1 ligne à vérifier ».
ROW_OUTCOME_PHRASES = {
    RowStatus.COMPLETED: ("ligne payée", "lignes payées"),
    RowStatus.FAILED: ("ligne échouée", "lignes échouées"),
    RowStatus.NEEDS_REVIEW: ("ligne à vérifier", "lignes à vérifier"),
    RowStatus.SKIPPED: ("ligne exclue", "lignes exclues"),
    RowStatus.INVALID: ("ligne invalide", "lignes invalides"),
    RowStatus.UNKNOWN: ("ligne d’issue inconnue", "lignes d’issue inconnue"),
    RowStatus.PENDING: ("ligne en attente", "lignes en attente"),
    RowStatus.SENDING: ("ligne en cours d’envoi", "lignes en cours d’envoi"),
}


def finished_subject(batch: Batch, counts: dict[str, int]) -> str:
    """« Lot LOT-… terminé : 300 lignes payées », « … terminé : 290 lignes payées, 10 échouées »."""
    paid = counts.get(RowStatus.COMPLETED.value, 0)
    failed = counts.get(RowStatus.FAILED.value, 0)
    review = counts.get(RowStatus.NEEDS_REVIEW.value, 0)
    parts = [plural(paid, *ROW_OUTCOME_PHRASES[RowStatus.COMPLETED])] if paid else ["aucune ligne payée"]
    if failed:
        parts.append(plural(failed, "échouée", "échouées"))
    if review:
        parts.append(plural(review, "à vérifier", "à vérifier"))
    return f"Lot {batch.reference} terminé : {', '.join(parts)}"


def compose(kind: str, batch: Batch, recipient: User) -> tuple[str, str]:
    """Subject and plain-text body, in French; times in the organisation's zone, which is named."""
    timezone = batch.organisation.timezone
    amount = format_amount(batch.total_amount, batch.currency)
    head = f"Bonjour {recipient.first_name},\n\n"
    facts = (
        f"Lot : {batch.reference} — {batch.label}\nMontant : {amount}\n"
        f"Lignes valides : {format_number(batch.valid_count)}\n"
    )
    foot = f"\nVoir le lot : {batch_link(batch)}\n\n— Back-office paiements\n"

    def when(value) -> str:
        return f"le {format_datetime(value, timezone)} ({zone_label(timezone)})"

    if kind == "submitted":
        who = batch.submitted_by or batch.created_by
        subject = f"Lot {batch.reference} à approuver"
        body = (
            f"{head}{who.full_name if who else 'Un collègue'} a soumis un lot qui attend votre approbation"
            f"{' ' + when(batch.submitted_at) if batch.submitted_at else ''}.\n\n{facts}{foot}"
        )
    elif kind == "approved":
        who = batch.approved_by
        subject = f"Lot {batch.reference} approuvé"
        at = f" {when(batch.approved_at)}" if batch.approved_at else ""
        body = f"{head}Votre lot a été approuvé{f' par {who.full_name}' if who else ''}{at} ; son paiement commence.\n\n{facts}{foot}"
    elif kind == "rejected":
        who = batch.rejected_by
        subject = f"Lot {batch.reference} rejeté"
        at = f" {when(batch.rejected_at)}" if batch.rejected_at else ""
        body = (
            f"{head}Votre lot a été rejeté{f' par {who.full_name}' if who else ''}{at}.\n\n"
            f"Motif : {batch.rejection_reason or '—'}\n\n{facts}{foot}"
        )
    elif kind == "finished":
        counts = row_counts(batch.id)
        lines = "".join(
            f"  {ROW_STATUS_LABELS[status]} : {plural(counts[status.value], 'ligne')}\n"
            for status in RowStatus
            if counts.get(status.value)
        )
        subject = finished_subject(batch, counts)
        at = f" {when(batch.completed_at)}" if batch.completed_at else ""
        body = (
            f"{head}Le paiement de votre lot est terminé{at} : {batch.status_label.lower()}.\n\n"
            f"{facts}\nRésultat par ligne :\n{lines}{foot}"
        )
    else:
        raise ValueError(f"unknown notification kind {kind!r}")
    return subject, body
