"""The one partner step of the saga: send a write with a fixed id, read its status, never apply it twice.

Debit, marking a fine paid and refund all follow it:

    send with the fixed id ──► final answer: settle it
        │  no usable answer / not final yet: back off, then read the status
        │  409 "I already have this id": read the status now
        ▼
    read the status ──► final answer: settle it
        │  not found: send again with the same id — promptly when the partner deduplicates
        │      ("prompt"), after the grace period when it could not ("grace")
        │  no usable answer / not final yet: back off and read again

"Sent" (time and count) is committed before each call, so a restarted job knows a write
may exist and reads its status first. A concrete write (saga.py) says what its client's
typed answers mean (`Verdict`) and how a final one is recorded.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backoffice.clients.partner_http import PartnerReply
from backoffice.models.base import utcnow
from backoffice.models.fines import FinePayment
from backoffice.services.fines.states import add_event

if TYPE_CHECKING:
    from backoffice.services.fines.saga import Saga


PROMPT, GRACE = "prompt", "grace"


def repeat_delay(config: Mapping[str, Any], key: str) -> float:
    """Seconds since the last send before a write found absent is repeated, for one partner.

    "prompt": the partner deduplicates by our id (a repeat of an id it has answers 409, a
    late original after a repeat is never applied), so repeat after a short pause. Anything
    else ("grace"): wait out the late-application window, for a partner that could not.
    """
    if str(config.get(key, GRACE)).strip().lower() == PROMPT:
        return float(config["FINES_PROMPT_REPEAT_SECONDS"])
    return float(config["FINES_REWRITE_GRACE_SECONDS"])


# Waits before reading a write's status again, as a share of the time since it was sent:
# "not final yet" waits half of it; a read that got no usable answer (a 504 on the status
# endpoint says nothing about the write) is tried again sooner.
WAIT_SHARE = 0.5
READ_AGAIN_SHARE = 0.125


class Verdict(enum.Enum):
    """What a partner's answer means for the step."""

    SETTLED = "settled"  # a final answer: record it
    READ = "read"  # the partner already had this id (409): read its status now
    PENDING = "pending"  # the partner has it, not final yet: read again after a backoff
    ABSENT = "absent"  # the status check does not find the write (yet)
    UNKNOWN = "unknown"  # no usable answer: the write may or may not exist
    UNEXPECTED = "unexpected"  # outside the partner's contract: an admin looks at it


class PartnerWrite(ABC):
    """One idempotent write of a payment to a partner, as the generic step needs it."""

    partner: str  # "momo" or "registry": whose repeat mode applies (Saga.repeat_after)
    step: str  # timeline step of the write ("DEBIT")
    status_step: str  # timeline step of its status check ("DEBIT_STATUT")
    label: str  # "Débit de 25 000 F CFA demandé à l'opérateur" in "… : 504, issue inconnue …"
    status_label: str  # "du débit" in "Statut du débit : …"
    unexpected_sent: str  # the review reason when the write's answer is outside the contract
    unexpected_read: str  # the same for the status check

    @property
    @abstractmethod
    def sent_at(self) -> datetime | None:
        """When the write was last sent (None: never)."""

    @abstractmethod
    def note_sent(self) -> None:
        """Record that the write is being sent (time and count), before the call."""

    @abstractmethod
    def send(self) -> Any:
        """The write itself; returns the client's typed result (with `.reply`)."""

    @abstractmethod
    def read(self) -> Any:
        """The status check; returns the client's typed result (with `.reply`)."""

    @abstractmethod
    def sent_request(self) -> dict:
        """What the write sends, as shown in the timeline."""

    @abstractmethod
    def read_request(self) -> dict:
        """What the status check asks, as shown in the timeline."""

    @abstractmethod
    def judge_sent(self, result: Any) -> Verdict: ...

    @abstractmethod
    def judge_read(self, result: Any) -> Verdict: ...

    @abstractmethod
    def settle(self, result: Any) -> None:
        """Record a final answer (of the write or of its status check)."""


def advance(saga: Saga, payment: FinePayment, write: PartnerWrite) -> float | None:
    """Send the write if it never was, otherwise read its status; seconds to wait, or None."""
    if write.sent_at is None:
        return send(saga, payment, write)
    return check(saga, payment, write)


def send(saga: Saga, payment: FinePayment, write: PartnerWrite) -> float | None:
    """Send the write with its fixed id; "sent" is committed before the call."""
    write.note_sent()
    saga.renew()  # commits: "sent" is saved before the call
    result = write.send()
    reply: PartnerReply = result.reply
    add_event(
        payment, write.step, _sent_message(write.label, reply), request=write.sent_request(), response=reply.trace()
    )
    return _follow(saga, payment, write, result, write.judge_sent(result), write.unexpected_sent, WAIT_SHARE)


def check(saga: Saga, payment: FinePayment, write: PartnerWrite) -> float | None:
    """Read the write's status; repeat it (same id) once absent, as the partner's repeat mode says."""
    saga.renew()
    result = write.read()
    reply: PartnerReply = result.reply
    add_event(
        payment,
        write.status_step,
        _check_message(write.status_label, reply),
        request=write.read_request(),
        response=reply.trace(),
    )
    verdict = write.judge_read(result)
    if verdict is Verdict.ABSENT:
        # Same id again: a partner that deduplicates answers 409 if the original lands after
        # all (and never applies it twice). For one that could not, wait out a late original.
        pause = saga.repeat_after[write.partner]
        age = _age(write.sent_at)
        if age >= pause:
            return send(saga, payment, write)
        return min(saga.backoff(payment, write.sent_at), pause - age)
    share = READ_AGAIN_SHARE if verdict is Verdict.UNKNOWN else WAIT_SHARE
    return _follow(saga, payment, write, result, verdict, write.unexpected_read, share)


def _follow(
    saga: Saga,
    payment: FinePayment,
    write: PartnerWrite,
    result: Any,
    verdict: Verdict,
    unexpected: str,
    share: float,
) -> float | None:
    if verdict in (Verdict.UNKNOWN, Verdict.PENDING, Verdict.ABSENT):
        return saga.backoff(payment, write.sent_at, share)
    if verdict is Verdict.READ:
        return None  # the saga's next round reads the status at once
    if verdict is Verdict.SETTLED:
        write.settle(result)
        return None
    saga.to_review(payment, "REPONSE_INATTENDUE", f"{unexpected} (HTTP {result.reply.status}).")
    return None


def _age(moment: datetime | None) -> float:
    return (utcnow() - moment).total_seconds() if moment else float("inf")


# A partner's statut, in the timeline's sentences.
_STATUT_WORDS = {
    "EN_COURS": "en cours",
    "REUSSI": "réussi",
    "ECHOUE": "échoué",
    "PAYEE": "payée",
    "IMPAYEE": "pas encore payée",
}


def _sent_message(what: str, reply: PartnerReply) -> str:
    if reply.status is None:
        return f"{what} : pas de réponse ({reply.error}) ; issue inconnue, lecture du statut."
    if reply.status == 504:
        return f"{what} : délai dépassé chez le partenaire (504) ; issue inconnue, lecture du statut."
    if reply.status == 409:
        return f"{what} : déjà reçu par le partenaire (409) ; lecture du statut."
    if reply.status == 200:
        return f"{what} : réponse reçue."
    return f"{what} : réponse HTTP {reply.status}."


def _check_message(what: str, reply: PartnerReply) -> str:
    if reply.unknown:
        return f"Statut {what} : pas de réponse exploitable ({reply.status or reply.error}) ; nouvel essai."
    if reply.status == 404:
        return f"Statut {what} : pas (encore) enregistré par le partenaire."
    statut = reply.body.get("statut")
    if statut:
        return f"Statut {what} : {_STATUT_WORDS.get(statut, statut)}."
    return f"Statut {what} : réponse HTTP {reply.status}."
