"""The saga's three partner writes (debit, marking a fine paid, refund), described for partner_step."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from backoffice.clients.fines_registry import FineAnswer, FineReading, MarkAnswer, MarkResult
from backoffice.clients.momo import MomoOutcome, MomoResult
from backoffice.models.base import utcnow
from backoffice.models.fines import FinePayment, FinePaymentItem
from backoffice.services.fines.partner_step import PartnerWrite, Verdict
from backoffice.services.money import format_amount

if TYPE_CHECKING:
    from backoffice.services.fines.saga import Saga

_MOMO_VERDICTS = {
    MomoOutcome.SUCCEEDED: Verdict.SETTLED,
    MomoOutcome.FAILED: Verdict.SETTLED,
    MomoOutcome.PENDING: Verdict.PENDING,
    MomoOutcome.DUPLICATE: Verdict.READ,
    MomoOutcome.NOT_FOUND: Verdict.ABSENT,
    MomoOutcome.UNKNOWN: Verdict.UNKNOWN,
    MomoOutcome.UNEXPECTED: Verdict.UNEXPECTED,
}


class _MomoWrite(PartnerWrite):
    """A write to the operator: 200 carries the outcome, 409 means "read my status"."""

    partner = "momo"
    unexpected_read = "Réponse inattendue de l'opérateur"

    noun = ""  # "Débit", "Remboursement"

    def __init__(self, saga: Saga, payment: FinePayment) -> None:
        self.saga = saga
        self.payment = payment
        self.label = f"{self.noun} de {format_amount(self.amount, payment.currency)} demandé à l'opérateur"

    @property
    def amount(self) -> int:
        return self.payment.amount

    def judge_sent(self, result: MomoResult) -> Verdict:
        return _MOMO_VERDICTS[result.outcome]

    def judge_read(self, result: MomoResult) -> Verdict:
        return _MOMO_VERDICTS[result.outcome]


class DebitWrite(_MomoWrite):
    step, status_step, noun, status_label = "DEBIT", "DEBIT_STATUT", "Débit", "du débit"
    unexpected_sent = "Réponse inattendue de l'opérateur au débit"

    @property
    def sent_at(self) -> datetime | None:
        return self.payment.debit_sent_at

    def note_sent(self) -> None:
        self.payment.debit_sent_at = utcnow()
        self.payment.debit_posts += 1

    def sent_request(self) -> dict:
        p = self.payment
        return {
            "id": p.debit_id,
            "telephone": p.telephone,
            "montant": p.amount,
            "devise": p.currency,
            "motif": self._motif(),
        }

    def _motif(self) -> str:
        return f"Amendes {', '.join(self.payment.numeros)}"

    def send(self) -> MomoResult:
        p = self.payment
        return self.saga.momo.debit(p.debit_id, p.telephone, p.amount, p.currency, self._motif())

    def read_request(self) -> dict:
        return {"GET": f"/debits/{self.payment.debit_id}"}

    def read(self) -> MomoResult:
        return self.saga.momo.debit_status(self.payment.debit_id)

    def settle(self, result: MomoResult) -> None:
        self.saga.debit_settled(self.payment, result)


class RefundWrite(_MomoWrite):
    step, status_step, noun, status_label = "REMBOURSEMENT", "REMBOURSEMENT_STATUT", "Remboursement", "du remboursement"
    unexpected_sent = "Réponse inattendue au remboursement"

    @property
    def amount(self) -> int:
        return self.payment.refund_amount

    @property
    def sent_at(self) -> datetime | None:
        return self.payment.refund_sent_at

    def note_sent(self) -> None:
        self.payment.refund_sent_at = utcnow()
        self.payment.refund_posts += 1

    def sent_request(self) -> dict:
        p = self.payment
        return {"id": p.refund_id, "debit_id": p.debit_id, "montant": p.refund_amount}

    def send(self) -> MomoResult:
        p = self.payment
        return self.saga.momo.refund(p.refund_id, p.debit_id, p.refund_amount)

    def read_request(self) -> dict:
        return {"GET": f"/remboursements/{self.payment.refund_id}"}

    def read(self) -> MomoResult:
        return self.saga.momo.refund_status(self.payment.refund_id)

    def settle(self, result: MomoResult) -> None:
        self.saga.refund_settled(self.payment, result)


class MarkWrite(PartnerWrite):
    """Marking one fine paid: the registry's 409 names who paid it, so it is an answer in itself."""

    partner = "registry"
    step, status_step = "MARQUAGE", "MARQUAGE_STATUT"
    unexpected_sent = unexpected_read = "Réponse inattendue du registre"

    def __init__(self, saga: Saga, payment: FinePayment, item: FinePaymentItem) -> None:
        self.saga = saga
        self.payment = payment
        self.item = item
        self.label = f"Marquage de l'amende {item.numero} demandé au registre"
        self.status_label = f"de l'amende {item.numero}"

    @property
    def sent_at(self) -> datetime | None:
        return self.item.mark_sent_at

    def note_sent(self) -> None:
        self.item.mark_sent_at = utcnow()
        self.item.mark_posts += 1

    def sent_request(self) -> dict:
        item = self.item
        return {"POST": f"/amendes/{item.numero}/paiements", "paiement_id": item.mark_id, "montant": item.amount}

    def send(self) -> MarkResult:
        return self.saga.registry.mark_paid(self.item.numero, self.item.mark_id, self.item.amount or 0)

    def read_request(self) -> dict:
        return {"GET": f"/amendes/{self.item.numero}"}

    def read(self) -> FineReading:
        return self.saga.registry.fine(self.item.numero)

    def judge_sent(self, result: MarkResult) -> Verdict:
        if result.answer is MarkAnswer.UNKNOWN:
            return Verdict.UNKNOWN
        return Verdict.UNEXPECTED if result.answer is MarkAnswer.UNEXPECTED else Verdict.SETTLED

    def judge_read(self, result: FineReading) -> Verdict:
        if result.answer is FineAnswer.FOUND:
            # Not (yet) applied: repeat it with the same id (partner_step, per the repeat mode).
            return Verdict.SETTLED if result.is_paid else Verdict.ABSENT
        return {FineAnswer.NOT_FOUND: Verdict.SETTLED, FineAnswer.UNKNOWN: Verdict.UNKNOWN}.get(
            result.answer, Verdict.UNEXPECTED
        )

    def settle(self, result: MarkResult | FineReading) -> None:
        outcome, detail = _mark_outcome(result, self.item.mark_id)
        self.saga.mark_outcome(self.payment, self.item, outcome, detail)


def _mark_outcome(result: MarkResult | FineReading, mark_id: str) -> tuple[str, str]:
    """The fine's outcome (PAYEE, DEJA_PAYEE, MONTANT_INCORRECT, INCONNUE) and its detail."""
    if isinstance(result, FineReading):
        if result.answer is FineAnswer.NOT_FOUND:
            return "INCONNUE", ""
        if result.payment_id == mark_id:
            return "PAYEE", ""
        return "DEJA_PAYEE", f"payée par {result.payment_id}"
    if result.answer is MarkAnswer.ALREADY_PAID:
        return "DEJA_PAYEE", f"payée par {result.payment_id}"
    if result.answer is MarkAnswer.AMOUNT_REFUSED:
        return "MONTANT_INCORRECT", f"attendu {result.expected_amount}"
    return result.answer.value, ""  # MARKED → PAYEE, NOT_FOUND → INCONNUE
