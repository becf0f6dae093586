"""The sweep: take over what dead workers held and re-queue what no live worker holds.

Run at every worker's start and then on a timer (the batch-sweeper loop of jobs/loops.py), and by hand
with `flask batches sweep`. Safe to run from several processes at once: a Redis lock keeps
it to one at a time.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from backoffice.extensions import db
from backoffice.jobs import queue
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchStatus, RowStatus
from backoffice.services.bulk import chunks, leases
from backoffice.services.bulk.finishing import ENDING_STATUSES, finalise_if_done
from backoffice.services.bulk.outcomes import ROWS, has_rows

log = logging.getLogger(__name__)

SETTLE_KEY = "backoffice:batch:{batch_id}:settle"  # RQ job id of the pending settle job
SWEEP_LOCK = "backoffice:sweep-lock"
APPROVED_START_GRACE_SECONDS = 60  # an APPROVED batch older than this was never started


def sweep() -> dict[str, int]:
    """One round of the sweep; returns what it did ({} when another sweep holds the lock).

    - SENDING rows whose lease expired → UNKNOWN (settled by status before any resend);
    - UNKNOWN rows held by a dead lease → free, and a settle job is queued for them;
    - an APPROVED batch whose start was lost → started;
    - PENDING rows of a chunk whose job is gone → the chunk is queued again;
    - a batch with nothing left moving is finalised.
    """
    redis = queue.connection()
    lock_ms = int(max(float(current_app.config["BATCH_SWEEP_SECONDS"]), 5) * 1000)
    if not redis.set(SWEEP_LOCK, os.getpid(), nx=True, px=lock_ms):
        return {}
    report = {"taken_over": 0, "chunks_requeued": 0, "settle_jobs": 0, "finalised": 0, "started": 0}
    try:
        report["taken_over"] = take_over_dead_rows()
        report["started"] = start_lost_approvals()
        # Paused and cancelling batches too: their rows in flight settle (no chunk is re-queued).
        live = db.session.execute(select(Batch.id, Batch.status).where(Batch.status.in_(ENDING_STATUSES))).all()
        db.session.commit()
        for batch_id, status in live:
            # Index probes, not a count of the batch's rows: this runs every few seconds.
            pending, unknown = has_rows(batch_id, [RowStatus.PENDING]), has_rows(batch_id, [RowStatus.UNKNOWN])
            db.session.commit()
            if pending and status == BatchStatus.PROCESSING.value:
                report["chunks_requeued"] += _requeue_lost_chunks(batch_id)
            if unknown and _settle_needed(batch_id):
                report["settle_jobs"] += _queue_settle(batch_id)
            if not pending and not unknown and finalise_if_done(batch_id):
                report["finalised"] += 1
    finally:
        db.session.rollback()
        redis.delete(SWEEP_LOCK)
    return report


def take_over_dead_rows() -> int:
    """SENDING rows of dead (or no) leases become UNKNOWN; UNKNOWN rows of dead leases are
    freed for a settle job. Returns the number of SENDING rows taken over (commits)."""
    now = utcnow()
    owners = db.session.scalars(
        select(ROWS.c.lease_owner)
        .where(
            ROWS.c.status.in_((RowStatus.SENDING.value, RowStatus.UNKNOWN.value)),
            ROWS.c.lease_owner.is_not(None),
        )
        .distinct()
    ).all()
    dead = sorted(set(owners) - leases.live_owners(owners))
    taken = 0
    if dead:
        taken = db.session.execute(
            update(ROWS)
            .where(ROWS.c.status == RowStatus.SENDING.value, ROWS.c.lease_owner.in_(dead))
            .values(
                status=RowStatus.UNKNOWN.value,
                lease_owner=None,
                next_check_at=now,
                error_description="Traitement interrompu pendant l'envoi : vérification auprès du switch.",
                updated_at=now,
            )
        ).rowcount
        db.session.execute(
            update(ROWS)
            .where(ROWS.c.status == RowStatus.UNKNOWN.value, ROWS.c.lease_owner.in_(dead))
            .values(lease_owner=None)
        )
    # A SENDING row without any owner cannot be live work either.
    taken += db.session.execute(
        update(ROWS)
        .where(ROWS.c.status == RowStatus.SENDING.value, ROWS.c.lease_owner.is_(None))
        .values(status=RowStatus.UNKNOWN.value, next_check_at=now, updated_at=now)
    ).rowcount
    db.session.commit()
    if taken:
        log.warning("sweep: %s row(s) of dead jobs are now UNKNOWN", taken)
    return taken


def start_lost_approvals() -> int:
    """Start the batches whose approval was committed but whose start was lost (the web
    process died in between). Returns how many were started."""
    stale = utcnow() - timedelta(seconds=APPROVED_START_GRACE_SECONDS)
    approved = db.session.scalars(
        select(Batch.id).where(
            Batch.status == BatchStatus.APPROVED.value,
            func.coalesce(Batch.approved_at, Batch.created_at) < stale,
        )
    ).all()
    db.session.commit()
    for batch_id in approved:
        log.warning("sweep: batch %s approved but not started: starting it", batch_id)
        chunks.start_processing(batch_id)
    return len(approved)


def _requeue_lost_chunks(batch_id: int) -> int:
    known = chunks.known_chunks(batch_id)
    lost = []
    for first, last in chunks.chunk_ranges(batch_id):
        holder = next((job for (lo, hi), job in known.items() if lo <= first and last <= hi), None)
        if not leases.job_alive(holder):
            lost.append((first, last))
    db.session.commit()
    if lost:
        log.warning("sweep: batch %s, %s chunk(s) without a live job are queued again", batch_id, len(lost))
        chunks.enqueue_chunks(batch_id, lost)
    return len(lost)


def _settle_needed(batch_id: int) -> bool:
    """UNKNOWN rows that no job holds."""
    free = db.session.scalar(
        select(func.count()).where(
            ROWS.c.batch_id == batch_id,
            ROWS.c.status == RowStatus.UNKNOWN.value,
            ROWS.c.lease_owner.is_(None),
        )
    )
    db.session.commit()
    return bool(free)


def _queue_settle(batch_id: int) -> int:
    redis = queue.connection()
    key = SETTLE_KEY.format(batch_id=batch_id)
    current = redis.get(key)
    if current and leases.job_alive(current.decode()):
        return 0
    job = queue.enqueue(
        "backoffice.jobs.batches.settle_batch",
        batch_id,
        description=f"settle batch {batch_id}",
        **chunks.JOB_OPTIONS,
    )
    redis.set(key, job.id, ex=7 * 86400)
    return 1
