"""The end of a batch: its final status, what is left of its reservation, the one place it ends.

`finalise_if_done` ends a PROCESSING batch once none of its rows is still moving; a
NEEDS_REVIEW row keeps its amount reserved until a person decides it (services/bulk/review.py),
which derives the status again with `final_status` and releases with `release_beyond_review`.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select, update

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.batches import MOVING_ROW_STATUSES, Batch, BatchEvent, BatchRow, BatchStatus, RowStatus
from backoffice.services import audit, ledger
from backoffice.services.bulk import events
from backoffice.services.bulk.outcomes import BatchContext, batch_context, has_rows, settle_ledger, status_counts
from backoffice.services.locale import plural

log = logging.getLogger(__name__)


def final_status(counts: dict[str, int]) -> BatchStatus | None:
    """The batch state derived from its rows' counts (None while rows are still moving).

    A batch cancelled while paid (some rows CANCELLED) ends CANCELLED when nothing was paid
    nor is waiting for review, PARTIALLY_COMPLETED otherwise."""
    if any(counts.get(s, 0) for s in MOVING_ROW_STATUSES):
        return None
    completed = counts.get(RowStatus.COMPLETED.value, 0)
    review = counts.get(RowStatus.NEEDS_REVIEW.value, 0)
    cancelled = counts.get(RowStatus.CANCELLED.value, 0)
    others = counts.get(RowStatus.FAILED.value, 0) + review + cancelled
    if completed and not others:
        return BatchStatus.COMPLETED
    if cancelled and not completed and not review:
        return BatchStatus.CANCELLED
    if not completed:
        return BatchStatus.FAILED
    return BatchStatus.PARTIALLY_COMPLETED


def release_beyond_review(ctx: BatchContext) -> tuple[int, int]:
    """Release what a final batch still reserves beyond its NEEDS_REVIEW rows' share.

    Returns (released, still reserved for review). The caller holds the account lock and
    commits; used at the end of a batch and when a person decides a NEEDS_REVIEW row.
    """
    batch_id = ctx.batch_id
    review_amount = int(
        db.session.scalar(
            select(func.coalesce(func.sum(BatchRow.amount), 0)).where(
                BatchRow.batch_id == batch_id, BatchRow.status == RowStatus.NEEDS_REVIEW.value
            )
        )
        or 0
    )
    left = int(db.session.scalar(select(Batch.reserved_amount).where(Batch.id == batch_id)) or 0)
    extra = left - review_amount
    if extra > 0:
        ledger.release(ctx.account_id, extra, ctx.reference, note="Solde de la réservation du lot")
        db.session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(reserved_amount=Batch.reserved_amount - extra)
            .execution_options(synchronize_session=False)
        )
    return max(extra, 0), review_amount


# A batch ends from these states (a paused one too, once nothing is left to pause).
ENDING_STATUSES = (BatchStatus.PROCESSING.value, BatchStatus.PAUSED.value, BatchStatus.CANCELLING.value)


def finalise_if_done(batch_id: int) -> bool:
    """End the batch when no row is PENDING/SENDING/UNKNOWN: the one place that does it.

    Releases what is left of the reservation except the share of NEEDS_REVIEW rows, which
    stays reserved until a person decides (their payment may have gone through). Then the
    batch's "finished" side effects run, once, through `events.batch_finished`.
    """
    if has_rows(batch_id, MOVING_ROW_STATUSES):  # the usual answer while a batch pays: no count
        db.session.commit()
        return False
    counts = status_counts(batch_id)
    db.session.commit()
    final = final_status(counts)
    if final is None:
        return False
    batch = db.session.get(Batch, batch_id)
    if batch is None or batch.status not in ENDING_STATUSES:
        return False
    ctx = batch_context(batch_id)
    # Account first, then batch: the order every ledger settlement takes (no deadlock).
    ledger.lock_account(ctx.account_id)
    # The conditional UPDATE makes the end happen once even when two jobs get here together.
    won = db.session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status.in_(ENDING_STATUSES))
        .values(status=final.value, completed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        db.session.rollback()
        return False
    settle_ledger(ctx)  # normally a no-op: every final row was settled with its group
    extra, review_amount = release_beyond_review(ctx)
    message, details = _summary(batch_id, counts, extra, review_amount)
    db.session.add(BatchEvent(batch_id=batch_id, action="processing_finished", message=message, details=details))
    batch = db.session.get(Batch, batch_id, populate_existing=True)
    audit.record(None, "batch.finished", batch, status=final.value, **details)
    db.session.commit()
    log.info("batch %s finished: %s %s", batch_id, final.value, details)
    events.batch_finished(batch_id)
    return True


def _summary(batch_id: int, counts: dict[str, int], extra: int, review_amount: int) -> tuple[str, dict]:
    """The timeline message (French) and the figures of a batch that just ended."""
    amounts = dict(
        db.session.execute(
            select(BatchRow.status, func.coalesce(func.sum(BatchRow.amount), 0))
            .where(BatchRow.batch_id == batch_id)
            .group_by(BatchRow.status)
        ).all()
    )
    completed = counts.get(RowStatus.COMPLETED.value, 0)
    failed = counts.get(RowStatus.FAILED.value, 0)
    review = counts.get(RowStatus.NEEDS_REVIEW.value, 0)
    cancelled = counts.get(RowStatus.CANCELLED.value, 0)
    message = f"Paiement terminé : {completed} {plural(completed, 'payée', with_count=False)}, {failed} {plural(failed, 'échouée', with_count=False)}"
    if cancelled:
        message += f", {cancelled} {plural(cancelled, 'annulée', with_count=False)}"
    if review:
        message += f", {review} à vérifier (leur montant reste réservé)"
    details = {
        "completed": completed,
        "failed": failed,
        "needs_review": review,
        "cancelled": cancelled,
        "skipped": counts.get(RowStatus.SKIPPED.value, 0),
        "completed_amount": int(amounts.get(RowStatus.COMPLETED.value, 0) or 0),
        "released_at_end": max(extra, 0),
        "still_reserved": review_amount,
    }
    return message + ".", details
