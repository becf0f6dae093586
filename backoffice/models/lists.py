"""Beneficiary lists, their entries and the history of their changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.base import TimelineLine, utcnow
from backoffice.models.organisations import Organisation


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


class BeneficiaryListEvent(TimelineLine, db.Model):
    """One line of a list's history of changes (also written to the audit log)."""

    __tablename__ = "beneficiary_list_events"
    __table_args__ = (Index("ix_beneficiary_list_events_list_created", "list_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("beneficiary_lists.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None]


class BeneficiaryAmountDraft(db.Model):
    """An amount typed for one entry while preparing a batch from a list, kept between pages
    until the batch is created (one draft per list and person)."""

    __tablename__ = "beneficiary_amount_drafts"
    __table_args__ = (UniqueConstraint("list_id", "user_id", "entry_id", name="uq_beneficiary_amount_drafts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("beneficiary_lists.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("beneficiary_entries.id", ondelete="CASCADE"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
