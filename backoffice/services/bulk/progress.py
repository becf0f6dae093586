"""Figures of a batch's live progress: counts and amounts by status, success rate, rates, time left.

Polled every second by the batch page (templates/batches/_progress.html), so that every
figure a person watches while a batch is being paid moves with the rows. Time left comes
from the *recent* rate (rows ended in the last RECENT_SECONDS), not from the average since
the start, which lags behind a batch that slowed down or sped up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.batches import ENDED_ROW_STATUSES, UNPAID_ROW_STATUSES, Batch, BatchRow, RowStatus
from backoffice.services.bulk.history import BatchStatistics, statistics

RECENT_SECONDS = 30


@dataclass
class Progress:
    """What the progress fragment shows; amounts in the batch currency's minor units."""

    stats: BatchStatistics
    total: int
    done: int
    percent: int
    paid_amount: int
    failed_amount: int
    left_amount: int
    review_amount: int
    reserved_amount: int
    fees: int
    rate: float | None  # rows ended per second: recent while paying, average once final
    seconds_left: int | None
    awaiting_check_only: bool  # every row left is waiting for a status check of the switch
    next_check_at: datetime | None
    duration_seconds: float | None  # final batches: from the start of the payment to its end

    def count(self, status: RowStatus) -> int:
        return self.stats.by_status.get(status.value, 0)

    @property
    def counts(self) -> dict[str, int]:
        return self.stats.by_status

    completed = property(lambda self: self.count(RowStatus.COMPLETED))
    failed = property(lambda self: self.count(RowStatus.FAILED))
    needs_review = property(lambda self: self.count(RowStatus.NEEDS_REVIEW))
    unknown = property(lambda self: self.count(RowStatus.UNKNOWN))
    sending = property(lambda self: self.count(RowStatus.SENDING))
    pending = property(lambda self: self.count(RowStatus.PENDING))
    skipped = property(lambda self: self.count(RowStatus.SKIPPED))

    @property
    def left(self) -> int:
        """Rows still to be paid or settled."""
        return self.pending + self.sending + self.unknown

    @property
    def settled(self) -> int:
        return self.completed + self.failed


def progress(batch: Batch, now: datetime | None = None) -> Progress:
    """The fragment's figures: one GROUP BY, plus two indexed counts while the batch moves."""
    now = now or utcnow()
    stats = statistics(batch)
    counts = stats.by_status
    total = sum(v for k, v in counts.items() if k not in UNPAID_ROW_STATUSES)
    done = sum(counts.get(status, 0) for status in ENDED_ROW_STATUSES)
    left = stats.count(RowStatus.PENDING, RowStatus.SENDING, RowStatus.UNKNOWN)
    rate = seconds_left = duration = next_check = None
    awaiting_check_only = False
    started = batch.processing_started_at
    if batch.is_final:
        if started and batch.completed_at and done:
            duration = max((batch.completed_at - started).total_seconds(), 0.001)
            rate = done / duration
    elif started:
        rate = _recent_rate(batch.id, started, now)
        awaiting_check_only = left > 0 and left == stats.count(RowStatus.UNKNOWN)
        if awaiting_check_only:
            next_check = db.session.scalar(
                select(func.min(BatchRow.next_check_at)).where(
                    BatchRow.batch_id == batch.id, BatchRow.status == RowStatus.UNKNOWN.value
                )
            )
        elif rate:
            seconds_left = math.ceil(left / rate)
    return Progress(
        stats=stats,
        total=total,
        done=done,
        # Floor, so that 99.97 % done never reads 100 % while rows are left.
        percent=(100 * done // total) if total else 0,
        paid_amount=stats.amount(RowStatus.COMPLETED),
        failed_amount=stats.amount(RowStatus.FAILED),
        left_amount=stats.amount(RowStatus.PENDING, RowStatus.SENDING, RowStatus.UNKNOWN),
        review_amount=stats.amount(RowStatus.NEEDS_REVIEW),
        reserved_amount=int(batch.reserved_amount or 0),
        fees=stats.fees,
        rate=rate,
        seconds_left=seconds_left,
        awaiting_check_only=awaiting_check_only,
        next_check_at=next_check,
        duration_seconds=duration,
    )


def _recent_rate(batch_id: int, started: datetime, now: datetime) -> float | None:
    """Rows ended per second over the last RECENT_SECONDS (or since the start, if later).

    Completed rows are counted on the (batch_id, completed_at) index; failed and to-review
    rows (few) on their status, by the time their outcome was written.
    """
    since = max(now - timedelta(seconds=RECENT_SECONDS), started)
    window = (now - since).total_seconds()
    if window < 1:
        return None
    completed = db.session.scalar(
        select(func.count()).where(
            BatchRow.batch_id == batch_id,
            BatchRow.completed_at >= since,
            BatchRow.status == RowStatus.COMPLETED.value,
        )
    )
    others = db.session.scalar(
        select(func.count()).where(
            BatchRow.batch_id == batch_id,
            BatchRow.status.in_([RowStatus.FAILED.value, RowStatus.NEEDS_REVIEW.value]),
            BatchRow.updated_at >= since,
        )
    )
    ended = int(completed or 0) + int(others or 0)
    return ended / window if ended else None
