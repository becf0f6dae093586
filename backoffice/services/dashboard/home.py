"""What waits for a member on the landing page: batches to approve, drafts, batches in progress."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.batches import (
    Batch,
    BatchStatus,
)


def home_work(user) -> dict[str, list]:
    """What waits for a gestionnaire: colleagues' batches to approve, drafts, batches in progress,
    recent failures. Superviseurs get the same lists, read-only."""
    if user is None or not getattr(user, "is_member", False):
        return {"to_approve": [], "drafts": [], "in_progress": [], "failures": []}
    org = Batch.organisation_id == user.organisation_id
    limit = 10

    def batches(*conditions) -> list[Batch]:
        stmt = select(Batch).where(org, *conditions).order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit)
        return list(db.session.scalars(stmt))

    in_progress_states = (BatchStatus.APPROVED.value, BatchStatus.PROCESSING.value)
    submitter = func.coalesce(Batch.submitted_by_id, Batch.created_by_id)
    failed_states = (BatchStatus.FAILED.value, BatchStatus.PARTIALLY_COMPLETED.value)
    week_ago = utcnow() - timedelta(days=7)
    return {
        "to_approve": batches(Batch.status == BatchStatus.PENDING_APPROVAL.value, submitter != user.id)
        if user.is_gestionnaire
        else [],
        "drafts": batches(Batch.status == BatchStatus.DRAFT.value, Batch.created_by_id == user.id),
        "in_progress": batches(Batch.status.in_(in_progress_states), Batch.created_by_id == user.id)
        if user.is_gestionnaire
        else batches(Batch.status.in_(in_progress_states)),
        "failures": batches(
            Batch.status.in_(failed_states),
            func.coalesce(Batch.completed_at, Batch.created_at) >= week_ago,
        ),
    }
