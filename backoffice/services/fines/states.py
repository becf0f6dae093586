"""A fines payment's states: the allowed transitions, its timeline, and what an ending frees."""

from __future__ import annotations

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.fines import FINAL_PAYMENT_STATUSES, FinePayment, FinePaymentEvent, PaymentStatus
from backoffice.services import ServiceError

# The saga's allowed transitions, in one place (docs: "The fines saga"):
#
#     RECU → VERIFIE → DEBIT_EN_COURS → DEBITE → PAYE
#         ↘ REJETE  ↘ ECHEC            ↘ REMBOURSEMENT_EN_COURS → REMBOURSE
#                            any step, budget spent → A_VERIFIER → (resumed) | CLOTURE
TRANSITIONS: dict[PaymentStatus, set[PaymentStatus]] = {
    PaymentStatus.RECU: {PaymentStatus.VERIFIE, PaymentStatus.REJETE, PaymentStatus.A_VERIFIER},
    PaymentStatus.VERIFIE: {PaymentStatus.DEBIT_EN_COURS, PaymentStatus.A_VERIFIER},
    PaymentStatus.DEBIT_EN_COURS: {PaymentStatus.DEBITE, PaymentStatus.ECHEC, PaymentStatus.A_VERIFIER},
    PaymentStatus.DEBITE: {PaymentStatus.PAYE, PaymentStatus.REMBOURSEMENT_EN_COURS, PaymentStatus.A_VERIFIER},
    PaymentStatus.REMBOURSEMENT_EN_COURS: {PaymentStatus.REMBOURSE, PaymentStatus.A_VERIFIER},
    PaymentStatus.A_VERIFIER: {
        PaymentStatus.RECU,
        PaymentStatus.VERIFIE,
        PaymentStatus.DEBIT_EN_COURS,
        PaymentStatus.DEBITE,
        PaymentStatus.REMBOURSEMENT_EN_COURS,
        PaymentStatus.CLOTURE,
    },
}

# The states a worker still has to move on (neither final nor waiting for an admin).
ACTIVE_STATUSES = [s for s in PaymentStatus if s not in FINAL_PAYMENT_STATUSES and s != PaymentStatus.A_VERIFIER]


def transition(payment: FinePayment, target: PaymentStatus) -> None:
    """Move a payment along the saga; refuses a move that TRANSITIONS does not allow."""
    current = PaymentStatus(payment.status)
    if target == current:
        return
    if target not in TRANSITIONS.get(current, set()):
        raise ServiceError(f"Transition interdite : {current.value} → {target.value}.")
    payment.status = target.value
    payment.updated_at = utcnow()
    if payment.is_final:
        payment.completed_at = payment.updated_at


def add_event(
    payment: FinePayment,
    step: str,
    message: str,
    request: dict | None = None,
    response: dict | None = None,
    user: User | None = None,
) -> FinePaymentEvent:
    """Append a line to the payment's timeline: the step, what was sent and what came back."""
    event = FinePaymentEvent(
        payment_id=payment.id,
        step=step,
        message=message[:500],
        status=payment.status,
        request=request,
        response=response,
        user_id=user.id if user else None,
        created_at=utcnow(),
    )
    db.session.add(event)
    return event


def timeline(payment: FinePayment) -> list[FinePaymentEvent]:
    """The payment's timeline, oldest first."""
    return list(
        db.session.scalars(
            select(FinePaymentEvent)
            .where(FinePaymentEvent.payment_id == payment.id)
            .order_by(FinePaymentEvent.created_at, FinePaymentEvent.id)
        )
    )


def release_claims(payment: FinePayment, keep_paid: bool = True) -> None:
    """Free the fines this payment did not pay, so that they can be paid again."""
    for item in payment.items:
        if keep_paid and item.mark_outcome == "PAYEE":
            continue
        item.active_numero = None


def end(payment: FinePayment, status: PaymentStatus) -> None:
    """Reach a final state: free the fines not paid here and queue the client's callback."""
    transition(payment, status)
    release_claims(payment)
    if payment.callback_url:
        payment.callback_status = "EN_ATTENTE"
        payment.callback_next_at = utcnow()
