"""The fines payment saga: verify → debit → mark the fines paid → (refund), never debiting twice.

The allowed transitions are written out in states.py. Rules that make a restart safe at
any point:
- every partner write uses an id derived from the payment (`<id>-debit`, `<id>-<fine>`,
  `<id>-refund`, saved at creation) and the fact that it was sent is committed BEFORE the
  call; a step that finds "sent, outcome unknown" reads the status endpoint first;
- 504 / timeout / lost connection = unknown: read the status endpoint with backoff; on
  "not found" the write is repeated with the same id, promptly for a partner that
  deduplicates (it answers 409 if it had it after all, and its outcome stands), after a
  grace period for one that could not — partner_step.py;
- one job at a time works on a payment (a lease in the row, renewed before each call);
- every step appends to the payment's timeline what was sent, what came back and when.

`advance()` runs one payment as far as it can now and returns when it should run again;
short waits are slept inline, longer ones are handed back to the caller (the RQ job
re-enqueues itself with `enqueue_in`), so a worker is never parked on one slow payment.
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from backoffice.clients.fines_registry import FineAnswer, FineReading, FinesRegistryClient
from backoffice.clients.momo import MomoClient, MomoOutcome, MomoResult
from backoffice.extensions import db
from backoffice.models import Account
from backoffice.models.base import utcnow
from backoffice.models.fines import FinePayment, FinePaymentItem, PaymentStatus, plural
from backoffice.services import ledger
from backoffice.services.fines import partner_step
from backoffice.services.fines.partner_writes import DebitWrite, MarkWrite, RefundWrite
from backoffice.services.fines.states import add_event, end, transition
from backoffice.services.money import format_amount

log = logging.getLogger(__name__)

DEBIT_REASONS = {
    "SOLDE_INSUFFISANT": "Solde mobile money insuffisant.",
    "COMPTE_INCONNU": "Compte mobile money inconnu de l'opérateur.",
    "REFUSE_PAR_CLIENT": "Débit refusé par l'abonné.",
}
MARK_REASONS = {
    "DEJA_PAYEE": "déjà payée par un autre canal",
    "MONTANT_INCORRECT": "montant refusé par le registre",
    "INCONNUE": "inconnue du registre",
}

# A single job gives the payment back to the queue after this long, so others get a turn.
JOB_SLICE_SECONDS = 60.0


class LeaseLost(Exception):
    """Another job took the payment over (our lease expired): stop touching it."""


class Saga:
    """One run of a payment's saga by one job (owner), with the app's settings."""

    def __init__(self, payment_id: str, owner: str) -> None:
        config = current_app.config
        timeout = config["FINES_HTTP_TIMEOUT_SECONDS"]
        self.payment_id = payment_id
        self.owner = owner
        self.registry = FinesRegistryClient(config["FINES_API_URL"], timeout)
        self.momo = MomoClient(config["MOMO_API_URL"], timeout)
        self.lease_seconds = config["FINES_LEASE_SECONDS"]
        # After a status "not found", how long since the last send before repeating the write.
        self.repeat_after = {
            "registry": partner_step.repeat_delay(config, "FINES_REGISTRY_REPEAT"),
            "momo": partner_step.repeat_delay(config, "MOMO_REPEAT"),
        }
        self.backoff_base = config["FINES_BACKOFF_BASE_SECONDS"]
        self.backoff_max = config["FINES_BACKOFF_MAX_SECONDS"]
        self.max_checks = config["FINES_MAX_CHECKS"]
        self.inline_wait = config["FINES_INLINE_WAIT_SECONDS"]

    # Lease ------------------------------------------------------------------------------------

    def acquire(self) -> bool:
        now = utcnow()
        result = db.session.execute(
            update(FinePayment)
            .where(
                FinePayment.id == self.payment_id,
                or_(
                    FinePayment.lease_until.is_(None),
                    FinePayment.lease_until < now,
                    FinePayment.lease_owner == self.owner,
                ),
            )
            .values(lease_owner=self.owner, lease_until=now + timedelta(seconds=self.lease_seconds))
        )
        db.session.commit()
        return result.rowcount == 1

    def renew(self) -> None:
        """Called before every partner call, after the state that call depends on is committed."""
        db.session.commit()
        result = db.session.execute(
            update(FinePayment)
            .where(FinePayment.id == self.payment_id, FinePayment.lease_owner == self.owner)
            .values(lease_until=utcnow() + timedelta(seconds=self.lease_seconds))
        )
        db.session.commit()
        if result.rowcount != 1:
            raise LeaseLost(self.payment_id)

    def release(self) -> None:
        db.session.rollback()
        db.session.execute(
            update(FinePayment)
            .where(FinePayment.id == self.payment_id, FinePayment.lease_owner == self.owner)
            .values(lease_owner=None, lease_until=None)
        )
        db.session.commit()

    # Driver -----------------------------------------------------------------------------------

    def run(self) -> float | None:
        """Advance the payment; returns seconds until it should run again, None when nothing is due."""
        if not self.acquire():
            return None
        started = time.monotonic()
        # This job alone works on the payment (lease), so loaded state need not be expired at
        # each commit: nothing is lazily re-read after renew(), so no transaction stays open
        # (holding locks and a snapshot) while a partner takes its 10 s.
        session = db.session()
        expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
        try:
            while True:
                payment = db.session.get(FinePayment, self.payment_id, populate_existing=True)
                if payment is None or payment.is_final or payment.status == PaymentStatus.A_VERIFIER:
                    return None
                if self._budget_spent(payment):
                    db.session.commit()
                    return None
                step = STEPS[PaymentStatus(payment.status)]
                wait = step(self, payment)
                if wait is not None:
                    payment.next_attempt_at = utcnow() + timedelta(seconds=wait)
                db.session.commit()
                if wait is None:
                    continue
                if wait > self.inline_wait or time.monotonic() - started + wait > JOB_SLICE_SECONDS:
                    return wait
                time.sleep(wait)
                self.renew()
        except LeaseLost:
            log.warning("fines payment %s: lease lost, another job continues", self.payment_id)
            return None
        finally:
            session.expire_on_commit = expire_on_commit
            self.release()

    def _budget_spent(self, payment: FinePayment) -> bool:
        over_time = payment.deadline_at is not None and utcnow() > payment.deadline_at
        if not over_time and payment.checks <= self.max_checks:
            return False
        self.to_review(
            payment,
            "BUDGET_EPUISE",
            f"Issue inconnue après {plural(payment.checks, 'vérification')} à l'étape « {payment.status_label} » : "
            "à vérifier par un administrateur.",
        )
        return True

    def backoff(self, payment: FinePayment, since: datetime | None = None, share: float = 0.5) -> float:
        """The wait before the next read; each one counts as a check of the step.

        A share of the time since `since` (when the write was last sent, or when the payment
        arrived), at least the base and at most the max: the waits grow geometrically from
        each send and start small again after a repeat, and a partner that is down for long
        is asked less and less often. Without `since`: exponential in the step's checks.
        """
        payment.checks += 1
        if since is not None:
            delay = (utcnow() - since).total_seconds() * share
        else:
            delay = self.backoff_base * (2 ** min(payment.checks - 1, 12))
        return min(max(delay, self.backoff_base), self.backoff_max) * random.uniform(0.8, 1.2)

    # Endings ----------------------------------------------------------------------------------

    def to_review(self, payment: FinePayment, code: str, message: str) -> None:
        payment.paused_status = payment.status
        transition(payment, PaymentStatus.A_VERIFIER)
        payment.reason_code = code
        payment.reason = message[:500]
        add_event(payment, "A_VERIFIER", message)

    def finish(self, payment: FinePayment, status: PaymentStatus, code: str | None, message: str) -> None:
        """A final state: free the fines not paid here, and queue the client's callback."""
        end(payment, status)
        payment.reason_code = code
        payment.reason = message[:500] if code else None
        payment.next_attempt_at = None
        add_event(payment, status.value, message)

    def _collect(self, payment: FinePayment, amount: int) -> None:
        """Credit what the citizen paid to the organisation's account in that currency (if it has one)."""
        if amount <= 0:
            return
        account = db.session.scalar(
            select(Account)
            .where(
                Account.organisation_id == payment.organisation_id,
                Account.currency == payment.currency,
                Account.active.is_(True),
            )
            .order_by(Account.id)
            .limit(1)
        )
        if account is None:
            add_event(payment, "ENCAISSEMENT", f"Aucun compte en {payment.currency} : montant non crédité.")
            return
        ledger.credit(account.id, amount, f"AMENDES {payment.reference}", note=f"Amendes {', '.join(payment.numeros)}")
        payment.collected_amount = amount
        add_event(
            payment,
            "ENCAISSEMENT",
            f"{format_amount(amount, payment.currency)} crédités au compte {account.account_id}.",
        )

    # Step 1: verify the fines -----------------------------------------------------------------

    def verify(self, payment: FinePayment) -> float | None:
        pending = [item for item in payment.items if item.amount is None]
        if pending:
            self.renew()
        unknown_seen = False
        for item, reading in zip(pending, _read_fines(self.registry, [i.numero for i in pending]), strict=True):
            unknown = reading.answer is FineAnswer.UNKNOWN
            add_event(
                payment,
                "VERIFICATION",
                f"Registre : pas de réponse pour l'amende {item.numero} ; nouvel essai."
                if unknown
                else f"Registre : amende {item.numero} lue.",
                request={"GET": f"/amendes/{item.numero}"},
                response=reading.reply.trace(),
            )
            if unknown:
                unknown_seen = True
                continue
            problem = _verification_problem(payment, item, reading)
            if problem:
                code, message = problem
                self.finish(payment, PaymentStatus.REJETE, code, message)
                return None
            item.amount = int(reading.amount)  # type: ignore[arg-type]
        if unknown_seen:  # a read is harmless to repeat: soon, then less and less often
            return self.backoff(payment, payment.created_at, share=partner_step.READ_AGAIN_SHARE)
        total = sum(item.amount or 0 for item in payment.items)
        if total != payment.amount:
            self.finish(
                payment,
                PaymentStatus.REJETE,
                "MONTANT_INCORRECT",
                f"Le montant demandé ({format_amount(payment.amount, payment.currency)}) ne correspond pas "
                f"au total des amendes ({format_amount(total, payment.currency)}).",
            )
            return None
        payment.checks = 0
        transition(payment, PaymentStatus.VERIFIE)
        add_event(payment, "VERIFIE", f"Amendes vérifiées : total {format_amount(total, payment.currency)}.")
        return None

    # Step 2: debit the citizen ----------------------------------------------------------------

    def start_debit(self, payment: FinePayment) -> float | None:
        transition(payment, PaymentStatus.DEBIT_EN_COURS)
        return partner_step.send(self, payment, DebitWrite(self, payment))

    def check_debit(self, payment: FinePayment) -> float | None:
        return partner_step.advance(self, payment, DebitWrite(self, payment))

    def debit_settled(self, payment: FinePayment, result: MomoResult) -> None:
        if result.outcome is MomoOutcome.SUCCEEDED:
            payment.debit_outcome = "REUSSI"
            payment.checks = 0
            transition(payment, PaymentStatus.DEBITE)
            add_event(
                payment,
                "DEBITE",
                f"Débit de {format_amount(payment.amount, payment.currency)} accepté par l'opérateur "
                f"(abonné {payment.telephone}).",
            )
            return
        raison = result.reason or "ECHOUE"
        payment.debit_outcome = "ECHOUE"
        self.finish(
            payment, PaymentStatus.ECHEC, raison, f"Débit refusé par l'opérateur : {DEBIT_REASONS.get(raison, raison)}"
        )

    # Step 3: mark the fines paid --------------------------------------------------------------

    def mark_fines(self, payment: FinePayment) -> float | None:
        for item in payment.items:
            if item.mark_outcome is not None:
                continue
            wait = partner_step.advance(self, payment, MarkWrite(self, payment, item))
            if item.mark_outcome is None:
                return wait
        return self._after_marks(payment)

    def mark_outcome(self, payment: FinePayment, item: FinePaymentItem, outcome: str, detail: str = "") -> None:
        item.mark_outcome = outcome
        item.mark_detail = detail[:200] or None
        payment.checks = 0
        if outcome == "PAYEE":
            add_event(payment, "AMENDE_PAYEE", f"Amende {item.numero} enregistrée comme payée au registre.")
        else:
            add_event(
                payment,
                "AMENDE_NON_PAYEE",
                f"Amende {item.numero} {MARK_REASONS.get(outcome, outcome)}{' (' + detail + ')' if detail else ''}.",
            )

    def _after_marks(self, payment: FinePayment) -> float | None:
        unpaid = [i for i in payment.items if i.mark_outcome != "PAYEE"]
        if not unpaid:
            self._collect(payment, payment.amount)
            self.finish(payment, PaymentStatus.PAYE, None, "Toutes les amendes sont payées.")
            return None
        payment.refund_amount = sum(i.amount or 0 for i in unpaid)
        payment.checks = 0
        transition(payment, PaymentStatus.REMBOURSEMENT_EN_COURS)
        add_event(
            payment,
            "REMBOURSEMENT_EN_COURS",
            f"{plural(len(unpaid), 'amende non enregistrée', 'amendes non enregistrées')} au registre : "
            f"remboursement de {format_amount(payment.refund_amount, payment.currency)} à l'abonné.",
        )
        return None

    # Step 4: refund what could not be applied -------------------------------------------------

    def refund(self, payment: FinePayment) -> float | None:
        return partner_step.advance(self, payment, RefundWrite(self, payment))

    def refund_settled(self, payment: FinePayment, result: MomoResult) -> None:
        if result.outcome is MomoOutcome.SUCCEEDED:
            payment.refund_outcome = "REUSSI"
            unpaid = [i for i in payment.items if i.mark_outcome != "PAYEE"]
            self._collect(payment, payment.amount - payment.refund_amount)
            first = unpaid[0]
            partial = " (remboursement partiel)" if payment.refund_amount < payment.amount else ""
            many = len(unpaid) > 1
            why = MARK_REASONS.get(first.mark_outcome or "", "")
            self.finish(
                payment,
                PaymentStatus.REMBOURSE,
                first.mark_outcome,
                f"{'Amendes' if many else 'Amende'} {', '.join(i.numero for i in unpaid)} "
                f"{why.replace('payée', 'payées') if many else why} : "
                f"{format_amount(payment.refund_amount, payment.currency)} remboursés à l'abonné{partial}.",
            )
            return
        payment.refund_outcome = "ECHOUE"
        self.to_review(
            payment,
            "REMBOURSEMENT_ECHOUE",
            f"Le remboursement a échoué ({result.reply.body.get('raison')}) : à traiter à la main.",
        )


_reader: ThreadPoolExecutor | None = None


def _read_fines(registry: FinesRegistryClient, numeros: list[str]) -> list[FineReading]:
    """The registry's answer about each fine, read at the same time (reads only: no order to keep)."""
    global _reader
    if len(numeros) <= 1:
        return [registry.fine(n) for n in numeros]
    if _reader is None:
        _reader = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fines-read")
    return list(_reader.map(registry.fine, numeros))


def _verification_problem(payment: FinePayment, item: FinePaymentItem, reading: FineReading) -> tuple[str, str] | None:
    """Why the registry's answer about a fine refuses the payment (code, message), or None."""
    if reading.answer is FineAnswer.NOT_FOUND:
        return "AMENDE_INCONNUE", f"L'amende {item.numero} est inconnue du registre."
    if reading.answer is not FineAnswer.FOUND or reading.amount is None:
        return (
            "REPONSE_INATTENDUE",
            f"Réponse inattendue du registre pour {item.numero} (HTTP {reading.reply.status}).",
        )
    if reading.telephone != payment.telephone:
        return "AMENDE_AUTRE_TELEPHONE", f"L'amende {item.numero} n'appartient pas au numéro {payment.telephone}."
    if not reading.is_unpaid:
        return "AMENDE_DEJA_PAYEE", f"L'amende {item.numero} est déjà payée."
    if reading.currency != payment.currency:
        return "DEVISE_INCORRECTE", f"L'amende {item.numero} est en {reading.currency}, pas en {payment.currency}."
    return None


STEPS = {
    PaymentStatus.RECU: Saga.verify,
    PaymentStatus.VERIFIE: Saga.start_debit,
    PaymentStatus.DEBIT_EN_COURS: Saga.check_debit,
    PaymentStatus.DEBITE: Saga.mark_fines,
    PaymentStatus.REMBOURSEMENT_EN_COURS: Saga.refund,
}


def advance(payment_id: str, owner: str) -> float | None:
    """Run a payment's saga as far as possible now; seconds until it is due again, or None."""
    return Saga(payment_id, owner).run()
