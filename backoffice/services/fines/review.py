"""Admins' decisions on a payment left « À vérifier »: re-run it with a fresh budget, or close it."""

from __future__ import annotations

from datetime import timedelta

from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.fines import PAYMENT_STATUS_LABELS, FinePayment, PaymentStatus
from backoffice.services import PermissionDenied, ServiceError, audit
from backoffice.services.fines.states import add_event, end, transition


def rerun_payment(actor: User, payment: FinePayment, budget_seconds: float) -> None:
    """Give a payment that spent its retry budget a fresh budget, from where it stopped."""
    if not actor.is_admin:
        raise PermissionDenied("Seul un administrateur peut relancer un paiement.")
    if payment.status != PaymentStatus.A_VERIFIER:
        raise ServiceError("Seul un paiement « À vérifier » peut être relancé.")
    resume = PaymentStatus(payment.paused_status or PaymentStatus.RECU.value)
    transition(payment, resume)
    now = utcnow()
    payment.paused_status = None
    payment.deadline_at = now + timedelta(seconds=budget_seconds)
    payment.next_attempt_at = now
    payment.checks = 0
    payment.reviewed_by_id = actor.id
    add_event(
        payment,
        "RELANCE",
        f"Relancé par {actor.full_name} (reprise à l'étape « {PAYMENT_STATUS_LABELS[resume]} »).",
        user=actor,
    )
    audit.record(actor, "fines.payment_rerun", payment, reference=payment.reference, resume=resume.value)


def close_payment(actor: User, payment: FinePayment, note: str) -> None:
    """Close a payment after a manual check: a final state with the admin's note."""
    if not actor.is_admin:
        raise PermissionDenied("Seul un administrateur peut clore un paiement.")
    if payment.status != PaymentStatus.A_VERIFIER:
        raise ServiceError("Seul un paiement « À vérifier » peut être clos.")
    note = (note or "").strip()
    if not note:
        raise ServiceError("La note de clôture est obligatoire : indiquez ce qui a été vérifié.", "note")
    end(payment, PaymentStatus.CLOTURE)
    payment.review_note = note[:2000]
    payment.reviewed_by_id = actor.id
    payment.reason_code = "CLOS_MANUELLEMENT"
    payment.reason = f"Clos par {actor.full_name} : {note[:300]}"
    add_event(payment, "CLOTURE", f"Clos par {actor.full_name} : {note[:400]}", user=actor)
    audit.record(actor, "fines.payment_closed", payment, reference=payment.reference, note=note[:500])
