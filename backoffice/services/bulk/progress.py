"""Figures of a batch's live progress: counts by status, share done, throughput, time left."""

from __future__ import annotations

import math

from backoffice.models.base import utcnow
from backoffice.models.batches import ENDED_ROW_STATUSES, UNPAID_ROW_STATUSES, Batch, RowStatus
from backoffice.services.bulk.outcomes import status_counts


def progress(batch: Batch) -> dict:
    """Figures for the live progress fragment (one GROUP BY)."""
    counts = status_counts(batch.id)
    total = sum(v for k, v in counts.items() if k not in UNPAID_ROW_STATUSES)
    done = sum(counts.get(status, 0) for status in ENDED_ROW_STATUSES)
    rate = None
    seconds_left = None
    if batch.processing_started_at and done:
        end = batch.completed_at or utcnow()
        elapsed = max((end - batch.processing_started_at).total_seconds(), 0.001)
        rate = done / elapsed
        if not batch.is_final and rate > 0:
            seconds_left = math.ceil((total - done) / rate)
    return {
        "counts": counts,
        "total": total,
        "completed": counts.get(RowStatus.COMPLETED.value, 0),
        "failed": counts.get(RowStatus.FAILED.value, 0),
        "needs_review": counts.get(RowStatus.NEEDS_REVIEW.value, 0),
        "unknown": counts.get(RowStatus.UNKNOWN.value, 0),
        "sending": counts.get(RowStatus.SENDING.value, 0),
        "pending": counts.get(RowStatus.PENDING.value, 0),
        "skipped": counts.get(RowStatus.SKIPPED.value, 0),
        "done": done,
        "percent": (100 * done // total) if total else 0,
        "rate": rate,
        "seconds_left": seconds_left,
    }
