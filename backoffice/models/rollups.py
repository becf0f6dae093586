"""Per-batch and per-day figures the dashboard reads instead of scanning rows."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.batches import BatchRow


class BatchRollup(db.Model):
    """Marks a final batch whose settled rows are summed in BatchDayStats (see services/dashboard.py).

    A final batch's rows no longer change, so its figures are computed once (when it
    finishes, or when the dashboard first meets it) instead of on every page view.
    """

    __tablename__ = "batch_rollups"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchDayStats(db.Model):
    """Settled rows of a final batch, summed by day, outcome, error code, provider."""

    __tablename__ = "batch_day_stats"
    __table_args__ = (Index("ix_batch_day_stats_org_day", "organisation_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch_rollups.batch_id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    day: Mapped[date]
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_description: Mapped[str | None] = mapped_column(String(500))
    payee_fsp_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    row_count: Mapped[int]
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)


# Dashboard indexes on the bulk tables (owned by the bulk area; declared here so the
# dashboards' queries stay fast without touching the bulk models): the rows of a batch
# settled in a period.
Index("ix_batch_rows_batch_completed", BatchRow.batch_id, BatchRow.completed_at)
