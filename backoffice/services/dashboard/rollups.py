"""Rollups: a final batch's settled rows summed once per day, so that a year of data stays fast.

Rows count in the period in which they were settled, whatever the day their batch was
uploaded: `completed_at` for a completed row, and for a failed row the same or, when the
processing leaves it empty, `updated_at` (the time the failure was written). Days are the
organisation's calendar days (its time zone's offset from UTC is added before taking the
date); changing an organisation's zone drops its rollups so they are computed again.
"""

from __future__ import annotations

from sqlalchemy import Date, and_, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from backoffice.extensions import db
from backoffice.jobs import queue
from backoffice.models.batches import (
    FINAL_BATCH_STATUSES,
    Batch,
    BatchRow,
    RowStatus,
)
from backoffice.services.periods import Period

SETTLED = (RowStatus.COMPLETED.value, RowStatus.FAILED.value)
FINAL_STATUS_VALUES = {status.value for status in FINAL_BATCH_STATUSES}


def settled_at():
    """When a row was settled (see the module docstring)."""
    return func.coalesce(BatchRow.completed_at, BatchRow.updated_at)


class local_date(FunctionElement):  # noqa: N801 - a SQL function, named like one
    """`local_date(ts, minutes)`: the calendar day of a naive-UTC timestamp shifted by `minutes`.

    The offset is rendered as a literal (an int we compute, never user input), so that the
    same expression in SELECT and GROUP BY is the same text for PostgreSQL.
    """

    type = Date()
    name = "local_date"
    inherit_cache = True


def local_day(timestamp, offset_minutes: int):
    return local_date(timestamp, literal_column(str(int(offset_minutes))))


@compiles(local_date)
def _local_date_postgresql(element, compiler, **kw):
    timestamp, minutes = list(element.clauses)
    return f"date({compiler.process(timestamp, **kw)} + make_interval(mins => {compiler.process(minutes, **kw)}))"


@compiles(local_date, "sqlite")
def _local_date_sqlite(element, compiler, **kw):
    timestamp, minutes = list(element.clauses)
    return f"date({compiler.process(timestamp, **kw)}, '{compiler.process(minutes, **kw)} minutes')"


def organisation_timezone(organisation_id: int) -> str:
    from backoffice.models import Organisation
    from backoffice.services.locale import DEFAULT_TIMEZONE

    zone = db.session.scalar(select(Organisation.timezone).where(Organisation.id == organisation_id))
    return zone or DEFAULT_TIMEZONE


def organisation_offset(organisation_id: int) -> int:
    """Minutes the organisation's zone is ahead of UTC (its days start that much earlier in UTC)."""
    from backoffice.services.locale import utc_offset_minutes

    return utc_offset_minutes(organisation_timezone(organisation_id))


def drop_rollups(organisation_id: int) -> None:
    """Forget an organisation's rollups (its zone changed): the dashboard computes them again."""
    from sqlalchemy import delete

    from backoffice.models.rollups import BatchDayStats, BatchRollup

    db.session.execute(delete(BatchDayStats).where(BatchDayStats.organisation_id == organisation_id))
    db.session.execute(delete(BatchRollup).where(BatchRollup.organisation_id == organisation_id))


def settled_rows_filter(organisation_id: int, period: Period):
    return and_(
        Batch.organisation_id == organisation_id,
        settled_at() >= period.start_at,
        settled_at() < period.end_before,
    )


def completed_rows_filter(organisation_id: int, period: Period):
    """Completed rows always carry `completed_at`: this one can use the (batch_id, completed_at) index."""
    return and_(
        Batch.organisation_id == organisation_id,
        BatchRow.status == RowStatus.COMPLETED.value,
        BatchRow.completed_at >= period.start_at,
        BatchRow.completed_at < period.end_before,
    )


def rollup_batch(batch_id: int) -> bool:
    """(Re)compute a final batch's day stats; returns False for a batch still in progress.

    Idempotent: run when a batch finishes (bulk.events.batch_finished queues it), by the
    dashboard for final batches it finds without one, and again whenever a settled row of a
    final batch changes (e.g. a NEEDS_REVIEW row decided by a person). The caller commits.
    """
    from sqlalchemy import delete, insert, literal

    from backoffice.models.rollups import BatchDayStats, BatchRollup

    batch = db.session.get(Batch, batch_id)
    if batch is None or not batch.is_final:
        return False
    db.session.execute(delete(BatchDayStats).where(BatchDayStats.batch_id == batch_id))
    db.session.execute(delete(BatchRollup).where(BatchRollup.batch_id == batch_id))
    db.session.add(BatchRollup(batch_id=batch_id, organisation_id=batch.organisation_id))
    db.session.flush()
    day = local_day(settled_at(), organisation_offset(batch.organisation_id))
    db.session.execute(
        insert(BatchDayStats).from_select(
            [
                "batch_id",
                "organisation_id",
                "day",
                "status",
                "error_code",
                "payee_fsp_id",
                "currency",
                "row_count",
                "amount",
                "fee",
                "error_description",
            ],
            select(
                literal(batch_id),
                literal(batch.organisation_id),
                day,
                BatchRow.status,
                BatchRow.error_code,
                BatchRow.payee_fsp_id,
                literal(batch.currency),
                func.count(),
                func.coalesce(func.sum(BatchRow.amount), 0),
                func.coalesce(func.sum(BatchRow.fee), 0),
                func.max(BatchRow.error_description),
            )
            .where(
                BatchRow.batch_id == batch_id,
                BatchRow.status.in_(SETTLED),
                settled_at().is_not(None),
            )
            .group_by(day, BatchRow.status, BatchRow.error_code, BatchRow.payee_fsp_id),
        )
    )
    return True


def unrolled_batches(organisation_id: int) -> list[tuple[int, str]]:
    """(id, status) of the organisation's batches whose rows are read live (no rollup yet)."""
    from backoffice.models.rollups import BatchRollup

    return list(
        db.session.execute(
            select(Batch.id, Batch.status)
            .outerjoin(BatchRollup, BatchRollup.batch_id == Batch.id)
            .where(Batch.organisation_id == organisation_id, BatchRollup.batch_id.is_(None))
        ).all()
    )


def schedule_rollups(batch_ids: list[int]) -> None:
    """Queue the rollup of final batches met without one (a queue that is down is not an error)."""
    try:
        for batch_id in batch_ids[:50]:
            # once: a rollup already on its way is not piled up again while no worker runs
            job = f"dashboard-rollup-{batch_id}"
            queue.enqueue(
                "backoffice.jobs.dashboard.rollup_batch_job", batch_id, once=True, job_id=job, job_timeout=300
            )
    except Exception:  # noqa: BLE001 - the figures are right without it, only slower
        import logging

        logging.getLogger(__name__).warning("could not queue dashboard rollups", exc_info=True)
