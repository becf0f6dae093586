"""Paying an approved batch in chunks: starting it, and what one job does under its lease.

A batch's PENDING rows are cut into chunks of BATCH_CHUNK_SIZE rows, one RQ job each, so
that any number of workers share it. A job holds a lease while it works; on any error its
rows are given up to the sweep; at its end the batch may be finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from rq import Retry
from sqlalchemy import func, select, update

from backoffice.extensions import db
from backoffice.jobs import queue
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchEvent, BatchRow, BatchStatus, RowStatus
from backoffice.services import audit
from backoffice.services.bulk import leases, sending, settlement
from backoffice.services.bulk.finishing import finalise_if_done
from backoffice.services.bulk.outcomes import ROWS, batch_context
from backoffice.services.locale import plural

log = logging.getLogger(__name__)

CHUNKS_KEY = "backoffice:batch:{batch_id}:chunks"  # hash "first-last" → RQ job id
JOB_TIMEOUT = 6 * 3600
JOB_OPTIONS = {"job_timeout": JOB_TIMEOUT, "result_ttl": 3600, "failure_ttl": 7 * 86400}
# A chunk job that failed (the database crashed under it, say) gave its rows up (SENDING →
# UNKNOWN) and left its PENDING rows alone: RQ's scheduler runs it again after 1, 2, then 5 s,
# sooner than the sweep would find the chunk without a live job.
CHUNK_RETRY_SECONDS = [1, 2, 5]


def start_processing(batch_id: int) -> None:
    """Queue the processing of an approved batch; called after the approval is committed.

    Marks the batch PROCESSING (once: a second call does nothing) and enqueues one RQ job
    per chunk of BATCH_CHUNK_SIZE rows.
    """
    started = db.session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == BatchStatus.APPROVED.value)
        .values(status=BatchStatus.PROCESSING.value, processing_started_at=utcnow())
    ).rowcount
    if started != 1:
        db.session.rollback()
        log.info("batch %s is not APPROVED: processing not started", batch_id)
        return
    batch = db.session.get(Batch, batch_id, populate_existing=True)
    ranges = chunk_ranges(batch_id)
    pending = db.session.scalar(
        select(func.count()).where(BatchRow.batch_id == batch_id, BatchRow.status == RowStatus.PENDING.value)
    )
    db.session.add(
        BatchEvent(
            batch_id=batch_id,
            action="processing_started",
            message=f"Paiement démarré : {pending} {plural(pending, 'ligne', with_count=False)} à payer, "
            f"en {len(ranges)} {plural(len(ranges), 'tranche', with_count=False)}.",
            details={"rows": pending, "chunks": len(ranges)},
        )
    )
    audit.record(None, "batch.processing_started", batch, rows=pending, chunks=len(ranges))
    db.session.commit()
    if ranges:
        enqueue_chunks(batch_id, ranges)
    else:
        finalise_if_done(batch_id)


def chunk_ranges(batch_id: int, size: int | None = None) -> list[tuple[int, int]]:
    """The batch's PENDING rows cut into id ranges of `size` rows, computed by the database."""
    size = size or int(current_app.config["BATCH_CHUNK_SIZE"])
    numbered = (
        select(
            BatchRow.id.label("row_id"),
            ((func.row_number().over(order_by=BatchRow.id) - 1) // size).label("grp"),
        )
        .where(BatchRow.batch_id == batch_id, BatchRow.status == RowStatus.PENDING.value)
        .subquery()
    )
    rows = db.session.execute(
        select(func.min(numbered.c.row_id), func.max(numbered.c.row_id))
        .group_by(numbered.c.grp)
        .order_by(func.min(numbered.c.row_id))
    ).all()
    return [(int(first), int(last)) for first, last in rows]


def enqueue_chunks(batch_id: int, ranges: list[tuple[int, int]]) -> list[str]:
    """One RQ job per chunk, in one Redis round trip per 500 chunks.

    The chunk → job map kept in Redis lets the sweep find chunks whose job was lost.
    """
    key = CHUNKS_KEY.format(batch_id=batch_id)
    ids: list[str] = []
    for start in range(0, len(ranges), 500):
        part = ranges[start : start + 500]
        with queue.connection().pipeline() as pipe:
            jobs = queue.enqueue_many(
                "backoffice.jobs.batches.process_chunk",
                [(batch_id, first, last) for first, last in part],
                pipeline=pipe,
                description=lambda b, first, last: f"batch {b} rows {first}-{last}",
                retry=Retry(max=len(CHUNK_RETRY_SECONDS), interval=CHUNK_RETRY_SECONDS),
                **JOB_OPTIONS,
            )
            pipe.hset(key, mapping={f"{first}-{last}": job.id for (first, last), job in zip(part, jobs, strict=True)})
            pipe.expire(key, 30 * 86400)
            pipe.execute()
        ids += [job.id for job in jobs]
    return ids


def known_chunks(batch_id: int) -> dict[tuple[int, int], str]:
    """The chunks queued for the batch and the RQ job of each."""
    spans = queue.connection().hgetall(CHUNKS_KEY.format(batch_id=batch_id))
    known = {}
    for span, job_id in spans.items():
        first, _, last = span.decode().partition("-")
        known[(int(first), int(last))] = job_id.decode()
    return known


@contextmanager
def job_lease(batch_id: int) -> Iterator[str]:
    """The life of one job's lease: held (and kept alive) while the body runs; on any error
    its rows are given up to the sweep; released either way; then the batch may be ending."""
    owner = leases.new_owner()
    leases.hold(owner)
    try:
        yield owner
    except BaseException:
        db.session.rollback()
        leases.give_up_rows(owner)
        raise
    finally:
        leases.release(owner)
    finalise_if_done(batch_id)


def process_chunk(batch_id: int, first_id: int, last_id: int) -> dict:
    """Pay the batch's PENDING rows, this chunk's first, then any other chunk's as slots free
    up (a continuous pipeline, no barrier at the chunk's end); settle the unknown outcomes of
    what we sent; maybe end the batch. A job whose rows were all taken by others ends at once.
    `last_id` only names the chunk (the sweep's map)."""
    with job_lease(batch_id) as owner:
        ctx = batch_context(batch_id)
        counts = sending.pay_rows(ctx, [], owner, claim=sending.Claimer(batch_id, first_id, owner))
        settlement.settle_unknown(ctx, owner, _settle_deadline())
    return counts


def settle_batch(batch_id: int) -> None:
    """Settle a batch's UNKNOWN rows that no job holds (queued by the sweep)."""
    with job_lease(batch_id) as owner:
        db.session.execute(
            update(ROWS)
            .where(
                ROWS.c.batch_id == batch_id,
                ROWS.c.status == RowStatus.UNKNOWN.value,
                ROWS.c.lease_owner.is_(None),
            )
            .values(lease_owner=owner, updated_at=utcnow())
        )
        db.session.commit()
        settlement.settle_unknown(batch_context(batch_id), owner, _settle_deadline())


def _settle_deadline() -> float:
    return time.monotonic() + float(current_app.config["BATCH_SETTLE_INLINE_SECONDS"])
