"""Client of the mobile money operator (`MOMO_API_URL`): debits, refunds and their status checks.

Every call returns a `MomoResult` whose outcome says what the operator's answer means;
"no usable answer" is `MomoOutcome.UNKNOWN`, never an exception and never "failed".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from backoffice.clients.partner_http import PartnerReply, call


class MomoOutcome(enum.StrEnum):
    SUCCEEDED = "REUSSI"  # the debit or refund went through
    FAILED = "ECHOUE"  # refused by the operator, final (reason in `reason`)
    PENDING = "EN_COURS"  # the operator has it, not final yet
    DUPLICATE = "DEJA_RECU"  # a write: the operator already had this id (409), read its status
    NOT_FOUND = "INCONNU"  # a status check: the operator has no write with this id (404)
    UNKNOWN = "ISSUE_INCONNUE"  # no answer, a timeout or a 5xx: the write may or may not exist
    UNEXPECTED = "INATTENDU"  # an answer the contract does not describe


@dataclass(frozen=True)
class MomoResult:
    """What a debit, a refund or a status check came to, with the raw exchange for the timeline."""

    outcome: MomoOutcome
    reply: PartnerReply
    reason: str | None = None  # the operator's reason code of a failure


def _result(reply: PartnerReply, write: bool) -> MomoResult:
    if reply.unknown:
        return MomoResult(MomoOutcome.UNKNOWN, reply)
    if write and reply.status == 409:
        return MomoResult(MomoOutcome.DUPLICATE, reply)
    if not write and reply.status == 404:
        return MomoResult(MomoOutcome.NOT_FOUND, reply)
    if reply.status != 200:
        return MomoResult(MomoOutcome.UNEXPECTED, reply)
    statut = reply.body.get("statut")
    if statut == "REUSSI":
        return MomoResult(MomoOutcome.SUCCEEDED, reply)
    if statut == "ECHOUE":
        return MomoResult(MomoOutcome.FAILED, reply, reason=reply.body.get("raison") or "ECHOUE")
    return MomoResult(MomoOutcome.PENDING, reply)


class MomoClient:
    """Each write carries the caller's id; a repeat with the same id is answered 409 by the operator."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout

    def debit(self, debit_id: str, telephone: str, amount: int, currency: str, motif: str) -> MomoResult:
        payload = {"id": debit_id, "telephone": telephone, "montant": amount, "devise": currency, "motif": motif}
        return _result(call("POST", self.base_url, "/debits", self.timeout, payload), write=True)

    def debit_status(self, debit_id: str) -> MomoResult:
        return _result(call("GET", self.base_url, f"/debits/{debit_id}", self.timeout), write=False)

    def refund(self, refund_id: str, debit_id: str, amount: int) -> MomoResult:
        payload = {"id": refund_id, "debit_id": debit_id, "montant": amount}
        return _result(call("POST", self.base_url, "/remboursements", self.timeout, payload), write=True)

    def refund_status(self, refund_id: str) -> MomoResult:
        return _result(call("GET", self.base_url, f"/remboursements/{refund_id}", self.timeout), write=False)
