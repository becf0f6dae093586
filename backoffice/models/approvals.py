"""Approval rules of an organisation, the approvals a batch has gathered, and top-up requests."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.base import utcnow


class ApprovalRule(db.Model):
    """An organisation's rule for one currency (amounts in that currency's minor unit).

    Above `dual_above`, a batch needs two distinct approvers, neither of them its uploader;
    `daily_limit` caps the total approved per calendar day (UTC). None: no such limit.
    """

    __tablename__ = "approval_rules"
    __table_args__ = (UniqueConstraint("organisation_id", "currency", name="uq_approval_rules_org_currency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    dual_above: Mapped[int | None] = mapped_column(BigInteger)
    daily_limit: Mapped[int | None] = mapped_column(BigInteger)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchApproval(db.Model):
    """One approver's yes on a batch; the last one needed moves it to APPROVED."""

    __tablename__ = "batch_approvals"
    __table_args__ = (UniqueConstraint("batch_id", "user_id", name="uq_batch_approvals_batch_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User")


class TopUpStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REFUSED = "REFUSED"


TOP_UP_STATUS_LABELS = {
    TopUpStatus.PENDING: "En attente d'approbation",
    TopUpStatus.APPROVED: "Approuvé",
    TopUpStatus.REFUSED: "Refusé",
}


class TopUpRequest(db.Model):
    """Money coming in: one admin asks, a different admin approves (or refuses) with a reason."""

    __tablename__ = "top_up_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default=TopUpStatus.PENDING.value, index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(500))

    account = relationship("Account")
    requested_by = relationship("User", foreign_keys=[requested_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])

    @property
    def status_label(self) -> str:
        return TOP_UP_STATUS_LABELS[TopUpStatus(self.status)]
