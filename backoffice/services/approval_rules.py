"""An organisation's approval rules: two approvers above a total, and a most-per-day total.

`services.bulk.approval.approve_batch` asks `record_approval` whether this approval is the
last one needed (then the batch is reserved and paid) and `check_daily_limit` before it
reserves. Both run under the batch's row lock; the daily total is read under the rule's
row lock, so two approvals of different batches cannot both pass the same remaining room.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import Organisation, User
from backoffice.models.approvals import ApprovalRule, BatchApproval
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch
from backoffice.services import PermissionDenied, ServiceError, audit
from backoffice.services.money import CURRENCIES, format_amount


def rule_for(organisation_id: int, currency: str, lock: bool = False) -> ApprovalRule | None:
    stmt = select(ApprovalRule).where(
        ApprovalRule.organisation_id == organisation_id, ApprovalRule.currency == currency
    )
    if lock:
        stmt = stmt.with_for_update()
    return db.session.scalar(stmt)


def rules_of(organisation_id: int) -> list[ApprovalRule]:
    return list(
        db.session.scalars(
            select(ApprovalRule).where(ApprovalRule.organisation_id == organisation_id).order_by(ApprovalRule.currency)
        )
    )


def set_rule(
    actor: User, organisation: Organisation, currency: str, dual_above: int | None, daily_limit: int | None
) -> ApprovalRule:
    """An admin sets (or clears, with None) the organisation's rule for one currency; audited."""
    if not actor.is_admin:
        raise PermissionDenied("Action réservée aux administrateurs.")
    if currency not in CURRENCIES:
        raise ServiceError("Devise non prise en charge.", field="currency")
    for name, value in (("dual_above", dual_above), ("daily_limit", daily_limit)):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ServiceError("Le montant doit être positif.", field=name)
    rule = rule_for(organisation.id, currency, lock=True)
    old = {"dual_above": rule.dual_above, "daily_limit": rule.daily_limit} if rule else None
    if rule is None:
        rule = ApprovalRule(organisation_id=organisation.id, currency=currency)
        db.session.add(rule)
    rule.dual_above, rule.daily_limit = dual_above, daily_limit
    rule.updated_by_id, rule.updated_at = actor.id, utcnow()
    db.session.flush()
    audit.record(
        actor,
        "organisation.approval_rule_changed",
        organisation,
        currency=currency,
        old=old,
        dual_above=dual_above,
        daily_limit=daily_limit,
    )
    return rule


def approvers_needed(batch: Batch) -> int:
    rule = rule_for(batch.organisation_id, batch.currency)
    if rule is not None and rule.dual_above is not None and batch.total_amount > rule.dual_above:
        return 2
    return 1


def approvals_of(batch: Batch) -> list[BatchApproval]:
    return list(
        db.session.scalars(select(BatchApproval).where(BatchApproval.batch_id == batch.id).order_by(BatchApproval.id))
    )


def has_approved(actor: User, batch: Batch) -> bool:
    return bool(
        db.session.scalar(
            select(BatchApproval.id).where(BatchApproval.batch_id == batch.id, BatchApproval.user_id == actor.id)
        )
    )


def record_approval(actor: User, batch: Batch) -> bool:
    """Count `actor`'s approval (the caller holds the batch's lock); True when it is the last one needed."""
    if has_approved(actor, batch):
        raise ServiceError("Vous avez déjà approuvé ce lot : un autre approbateur doit le faire.")
    db.session.add(BatchApproval(batch_id=batch.id, user_id=actor.id))
    db.session.flush()
    return len(approvals_of(batch)) >= approvers_needed(batch)


def _start_of_day(now: datetime) -> datetime:
    return datetime.combine(now.date(), time.min)


def approved_today(organisation_id: int, currency: str, now: datetime | None = None) -> int:
    """The total of the organisation's batches in `currency` approved since midnight (UTC)."""
    since = _start_of_day(now or utcnow())
    total = db.session.scalar(
        select(func.coalesce(func.sum(Batch.total_amount), 0)).where(
            Batch.organisation_id == organisation_id,
            Batch.currency == currency,
            Batch.approved_at.is_not(None),
            Batch.approved_at >= since,
        )
    )
    return int(total or 0)


def check_daily_limit(batch: Batch) -> None:
    """Refuse the last approval when it would take the day's approved total past the limit."""
    rule = rule_for(batch.organisation_id, batch.currency, lock=True)
    if rule is None or rule.daily_limit is None:
        return
    already = approved_today(batch.organisation_id, batch.currency)
    if already + batch.total_amount > rule.daily_limit:
        raise ServiceError(
            f"Plafond journalier dépassé : {format_amount(already, batch.currency)} déjà approuvés aujourd'hui, "
            f"plafond {format_amount(rule.daily_limit, batch.currency)}. Ce lot pourra être approuvé demain."
        )


@dataclass
class RuleSummary:
    """What the batch page says: the rule that applies and who has approved so far."""

    needed: int
    approvers: list[tuple[str, datetime]] = field(default_factory=list)  # (name, when, UTC)
    dual_above: int | None = None
    daily_limit: int | None = None
    approved_today: int = 0


def summary(batch: Batch) -> RuleSummary:
    rule = rule_for(batch.organisation_id, batch.currency)
    approvals = approvals_of(batch)
    return RuleSummary(
        needed=approvers_needed(batch),
        approvers=[(a.user.full_name, a.created_at) for a in approvals],
        dual_above=rule.dual_above if rule else None,
        daily_limit=rule.daily_limit if rule else None,
        approved_today=approved_today(batch.organisation_id, batch.currency) if rule and rule.daily_limit else 0,
    )
