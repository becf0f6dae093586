"""Beneficiary lists, payee providers, and the indexes the dashboards read through.

Money columns are integers of the currency's minor unit.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.batches import BatchRow
from backoffice.models.organisations import Organisation


class PayeeProvider(db.Model):
    """A financial service provider that beneficiaries are paid into (Mojaloop FSP id)."""

    __tablename__ = "payee_providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    fsp_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<PayeeProvider {self.fsp_id}>"


class BeneficiaryList(db.Model):
    """A named, reusable list of beneficiaries of one organisation (e.g. the monthly pension run)."""

    __tablename__ = "beneficiary_lists"
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_beneficiary_lists_org_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
    created_by = relationship("User")

    def __repr__(self) -> str:
        return f"<BeneficiaryList {self.name}>"


class BeneficiaryEntry(db.Model):
    """One beneficiary of a list; deactivated entries stay for the history but are not paid."""

    __tablename__ = "beneficiary_entries"
    __table_args__ = (
        UniqueConstraint("list_id", "party_id_type", "party_id_value", name="uq_beneficiary_entries_party"),
        Index("ix_beneficiary_entries_list_active", "list_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("beneficiary_lists.id", ondelete="CASCADE"))
    party_id_type: Mapped[str] = mapped_column(String(20))
    party_id_value: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200), default="")
    default_amount: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]

    beneficiary_list: Mapped[BeneficiaryList] = relationship()


class BeneficiaryListEvent(db.Model):
    """One line of a list's history of changes (also written to the audit log)."""

    __tablename__ = "beneficiary_list_events"
    __table_args__ = (Index("ix_beneficiary_list_events_list_created", "list_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("beneficiary_lists.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(48))
    message: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User")


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
