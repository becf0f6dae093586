"""Finding work that nobody is doing: new payments for the dispatcher, lost ones for the sweep."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select, update

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.fines import FinePayment, PaymentStatus
from backoffice.services.fines.states import ACTIVE_STATUSES


def take_new_payments(limit: int = 500) -> list[str]:
    """Payments the API stored and no worker was handed yet; marks them handed and commits.

    The request only stores a payment (next attempt unset), so its answer never waits on
    Redis and no payment can be accepted yet lost between the commit and an enqueue; the
    worker's dispatcher takes them here, a few times a second. The UPDATE re-checks
    "unset", so each payment goes to one dispatcher even when several run at once.
    """
    candidates = list(
        db.session.scalars(
            select(FinePayment.id)
            .where(FinePayment.status == PaymentStatus.RECU.value, FinePayment.next_attempt_at.is_(None))
            .order_by(FinePayment.created_at)
            .limit(limit)
        )
    )
    if not candidates:
        db.session.rollback()
        return []
    taken = list(
        db.session.scalars(
            update(FinePayment)
            .where(FinePayment.id.in_(candidates), FinePayment.next_attempt_at.is_(None))
            .values(next_attempt_at=utcnow())
            .returning(FinePayment.id)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    return taken


def overdue_payments(grace_seconds: float, limit: int = 500) -> list[str]:
    """Unfinished payments whose next attempt is overdue and whose lease (if any) has expired.

    They lost their job (worker killed, Redis emptied, enqueue failed after dispatch): the
    sweep enqueues them again. New payments (next attempt unset) are the dispatcher's.
    """
    now = utcnow()
    return list(
        db.session.scalars(
            select(FinePayment.id)
            .where(
                FinePayment.status.in_([s.value for s in ACTIVE_STATUSES]),
                or_(
                    FinePayment.next_attempt_at < now - timedelta(seconds=grace_seconds),
                    and_(FinePayment.next_attempt_at.is_(None), FinePayment.status != PaymentStatus.RECU.value),
                ),
                or_(FinePayment.lease_until.is_(None), FinePayment.lease_until < now),
            )
            .order_by(FinePayment.next_attempt_at)
            .limit(limit)
        )
    )


def overdue_callbacks(grace_seconds: float, limit: int = 500) -> list[str]:
    """Payments whose callback is due since longer than the grace period (its job was lost)."""
    now = utcnow()
    return list(
        db.session.scalars(
            select(FinePayment.id)
            .where(
                FinePayment.callback_status == "EN_ATTENTE",
                FinePayment.callback_next_at < now - timedelta(seconds=grace_seconds),
            )
            .limit(limit)
        )
    )


def mark_requeued(payment_ids: list[str]) -> None:
    """Their next attempt is now: a later sweep enqueues them again only if still untouched."""
    if payment_ids:
        db.session.execute(update(FinePayment).where(FinePayment.id.in_(payment_ids)).values(next_attempt_at=utcnow()))
        db.session.commit()
