"""Pausing, resuming and cancelling a batch while it is being paid.

- **pause** (PROCESSING → PAUSED): no row is claimed any more (the claim only takes rows of a
  PROCESSING batch); rows already claimed are sent and settle normally. The status is in the
  database, so a paused batch stays paused across worker restarts (the sweep re-queues only
  PROCESSING batches).
- **resume** (PAUSED → PROCESSING): the remaining PENDING rows are queued again.
- **cancel** (PROCESSING or PAUSED → CANCELLING, with a reason): every PENDING row (never
  sent) becomes CANCELLED and its amount is released, in the same transaction; rows already
  sent settle normally; the batch ends (CANCELLED, or PARTIALLY_COMPLETED if some were paid)
  once none is moving.

Each writes a timeline event and an audit event, and commits before anything follows.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from backoffice.extensions import db
from backoffice.jobs import queue
from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchStatus, RowStatus
from backoffice.services import ServiceError, audit, ledger
from backoffice.services.bulk import chunks
from backoffice.services.bulk.approval import check_gestionnaire, record_event
from backoffice.services.bulk.finishing import finalise_if_done
from backoffice.services.bulk.outcomes import ROWS, batch_context, settle_ledger
from backoffice.services.locale import plural

REASON_MAX = 500


def can_pause(actor: User, batch: Batch) -> bool:
    return actor.is_gestionnaire and batch.status == BatchStatus.PROCESSING.value


def can_resume(actor: User, batch: Batch) -> bool:
    return actor.is_gestionnaire and batch.status == BatchStatus.PAUSED.value


def can_cancel_processing(actor: User, batch: Batch) -> bool:
    return actor.is_gestionnaire and batch.status in (BatchStatus.PROCESSING.value, BatchStatus.PAUSED.value)


def pause_batch(actor: User, batch_id: int) -> Batch:
    """Stop claiming the batch's rows; those in flight settle."""
    batch = _move(actor, batch_id, (BatchStatus.PROCESSING,), BatchStatus.PAUSED)
    counts = _pending(batch_id)
    record_event(
        batch,
        actor,
        "paused",
        f"Paiement mis en pause par {actor.full_name} : {plural(counts, 'ligne en attente ne sera pas envoyée', 'lignes en attente ne seront pas envoyées')} "
        "avant la reprise ; les envois en cours se terminent.",
        {"pending": counts},
    )
    audit.record(actor, "batch.paused", batch, reference=batch.reference, pending=counts)
    db.session.commit()
    return batch


def resume_batch(actor: User, batch_id: int) -> Batch:
    """Go on paying a paused batch: its PENDING rows are queued again."""
    batch = _move(actor, batch_id, (BatchStatus.PAUSED,), BatchStatus.PROCESSING)
    pending = _pending(batch_id)
    record_event(
        batch,
        actor,
        "resumed",
        f"Paiement repris par {actor.full_name} : {plural(pending, 'ligne à payer', 'lignes à payer')}.",
        {"pending": pending},
    )
    audit.record(actor, "batch.resumed", batch, reference=batch.reference, pending=pending)
    db.session.commit()
    ranges = chunks.chunk_ranges(batch_id)
    db.session.commit()
    queue.connection().delete(chunks.CHUNKS_KEY.format(batch_id=batch_id))  # the old map names ended jobs
    if ranges:
        chunks.enqueue_chunks(batch_id, ranges)
    else:
        finalise_if_done(batch_id)
    return batch


def cancel_processing(actor: User, batch_id: int, reason: str) -> Batch:
    """Cancel what is not sent yet: PENDING rows → CANCELLED, their amount released; sent rows
    settle normally and the batch ends once none is moving."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ServiceError("Motif de l'annulation : obligatoire.")
    if len(reason) > REASON_MAX:
        raise ServiceError(f"Motif de l'annulation : {REASON_MAX} caractères au plus.")
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        raise ServiceError("Lot introuvable.")
    ctx = batch_context(batch_id)
    # Account first, then batch and rows: the order every ledger settlement takes.
    ledger.lock_account(ctx.account_id)
    batch = _move(actor, batch_id, (BatchStatus.PROCESSING, BatchStatus.PAUSED), BatchStatus.CANCELLING)
    now = utcnow()
    cancelled = db.session.execute(
        update(ROWS)
        .where(ROWS.c.batch_id == batch_id, ROWS.c.status == RowStatus.PENDING.value)
        .values(
            status=RowStatus.CANCELLED.value,
            error_code=None,
            error_description=f"Annulé avant l'envoi : {reason}"[:500],
            lease_owner=None,
            next_check_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    _debit, released = settle_ledger(ctx)  # the cancelled rows' amounts (and any final row not settled yet)
    db.session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(cancelled_by_id=actor.id, cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    record_event(
        batch,
        actor,
        "processing_cancelled",
        f"Paiement annulé par {actor.full_name} : {plural(cancelled, 'ligne non envoyée annulée', 'lignes non envoyées annulées')}, leur montant "
        f"est libéré ; les envois en cours se terminent. Motif : {reason}",
        {"cancelled": cancelled, "released": released, "reason": reason},
    )
    audit.record(
        actor, "batch.processing_cancelled", batch, reference=batch.reference, cancelled=cancelled, reason=reason
    )
    db.session.commit()
    finalise_if_done(batch_id)
    return db.session.get(Batch, batch_id, populate_existing=True)


def _move(actor: User, batch_id: int, allowed: tuple[BatchStatus, ...], new: BatchStatus) -> Batch:
    """Compare-and-set of the batch's status (the caller commits)."""
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        raise ServiceError("Lot introuvable.")
    check_gestionnaire(actor, batch.organisation_id)
    if batch.status not in {s.value for s in allowed}:
        db.session.rollback()
        raise ServiceError(f"Action impossible : le lot {batch.reference} est « {batch.status_label} ».")
    moved = db.session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status.in_([s.value for s in allowed]))
        .values(status=new.value)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise ServiceError(f"Action impossible : le lot {batch.reference} vient de changer d'état.")
    return db.session.get(Batch, batch_id, populate_existing=True)


def _pending(batch_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count()).where(ROWS.c.batch_id == batch_id, ROWS.c.status == RowStatus.PENDING.value)
        )
        or 0
    )
