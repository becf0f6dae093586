"""Client of the fines registry (`FINES_API_URL`): read a fine, mark it paid.

Every call returns a typed result; "no usable answer" is an outcome of its own (UNKNOWN),
never an exception and never "refused".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import quote

from backoffice.clients.partner_http import PartnerReply, call


class FineAnswer(enum.StrEnum):
    FOUND = "TROUVEE"  # 200: the fine and its state
    NOT_FOUND = "INCONNUE"  # 404: the registry does not know this fine
    UNKNOWN = "ISSUE_INCONNUE"  # no answer, a timeout or a 5xx
    UNEXPECTED = "INATTENDU"  # an answer the contract does not describe


@dataclass(frozen=True)
class FineReading:
    """A fine as the registry describes it (fields are None when the answer lacks them)."""

    answer: FineAnswer
    reply: PartnerReply
    statut: str | None = None  # IMPAYEE or PAYEE
    amount: int | None = None  # minor units; None when the registry did not give an integer
    telephone: str | None = None
    currency: str | None = None
    payment_id: str | None = None  # the write id of the payment that paid it

    @property
    def is_paid(self) -> bool:
        return self.statut == "PAYEE"

    @property
    def is_unpaid(self) -> bool:
        return self.statut == "IMPAYEE"


class MarkAnswer(enum.StrEnum):
    MARKED = "PAYEE"  # our write is applied (200, or 409 naming our own id)
    ALREADY_PAID = "DEJA_PAYEE"  # 409: paid by another payment (its id in `payment_id`)
    AMOUNT_REFUSED = "MONTANT_INCORRECT"  # 422: the registry expects another amount
    NOT_FOUND = "INCONNUE"  # 404: the registry does not know this fine
    UNKNOWN = "ISSUE_INCONNUE"  # no answer, a timeout or a 5xx: the write may or may not exist
    UNEXPECTED = "INATTENDU"


@dataclass(frozen=True)
class MarkResult:
    answer: MarkAnswer
    reply: PartnerReply
    payment_id: str | None = None  # who paid the fine instead (ALREADY_PAID)
    expected_amount: object = None  # what the registry expects (AMOUNT_REFUSED), as received


def _reading(reply: PartnerReply) -> FineReading:
    if reply.unknown:
        return FineReading(FineAnswer.UNKNOWN, reply)
    if reply.status == 404:
        return FineReading(FineAnswer.NOT_FOUND, reply)
    if reply.status != 200:
        return FineReading(FineAnswer.UNEXPECTED, reply)
    body = reply.body
    amount = body.get("montant")
    return FineReading(
        FineAnswer.FOUND,
        reply,
        statut=body.get("statut"),
        amount=amount if isinstance(amount, int) else None,
        telephone=body.get("telephone"),
        currency=body.get("devise"),
        payment_id=body.get("paiement_id"),
    )


def _mark_result(reply: PartnerReply, paiement_id: str) -> MarkResult:
    body = reply.body
    if reply.unknown:
        return MarkResult(MarkAnswer.UNKNOWN, reply)
    if reply.status == 200 or (reply.status == 409 and body.get("paiement_id") == paiement_id):
        return MarkResult(MarkAnswer.MARKED, reply)
    if reply.status == 409:
        return MarkResult(MarkAnswer.ALREADY_PAID, reply, payment_id=body.get("paiement_id"))
    if reply.status == 422:
        return MarkResult(MarkAnswer.AMOUNT_REFUSED, reply, expected_amount=body.get("montant_attendu"))
    if reply.status == 404:
        return MarkResult(MarkAnswer.NOT_FOUND, reply)
    return MarkResult(MarkAnswer.UNEXPECTED, reply)


class FinesRegistryClient:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout

    def fine(self, numero: str) -> FineReading:
        """The status check: 200 with statut IMPAYEE/PAYEE and paiement_id, 404 unknown."""
        return _reading(call("GET", self.base_url, f"/amendes/{quote(numero, safe='')}", self.timeout))

    def mark_paid(self, numero: str, paiement_id: str, amount: int) -> MarkResult:
        """Mark a fine paid under our write id; a repeat with the same id is answered 409 with that id."""
        payload = {"paiement_id": paiement_id, "montant": amount}
        reply = call("POST", self.base_url, f"/amendes/{quote(numero, safe='')}/paiements", self.timeout, payload)
        return _mark_result(reply, paiement_id)
