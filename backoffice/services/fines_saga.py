"""The fines payment saga: verify → debit → mark the fines paid → (refund), never debiting twice.

    RECU → VERIFIE → DEBIT_EN_COURS → DEBITE → PAYE
        ↘ REJETE  ↘ ECHEC            ↘ REMBOURSEMENT_EN_COURS → REMBOURSE
                           any step, budget spent → A_VERIFIER

Rules that make a restart safe at any point:
- every partner write uses an id derived from the payment (`<id>-debit`, `<id>-<fine>`,
  `<id>-refund`, saved at creation) and the fact that it was sent is committed BEFORE the
  call; a step that finds "sent, outcome unknown" reads the status endpoint first;
- 504 / timeout / lost connection = unknown: read the status endpoint with backoff; only
  after a grace period of "not found" is the write repeated, with the same id (the partner
  answers 409 if it had it after all, and its outcome stands);
- one job at a time works on a payment (a lease in the row, renewed before each call);
- every step appends to the payment's timeline what was sent, what came back and when.

`advance()` runs one payment as far as it can now and returns when it should run again;
short waits are slept inline, longer ones are handed back to the caller (the RQ job
re-enqueues itself with `enqueue_in`), so a worker is never parked on one slow payment.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timedelta

import requests
from flask import current_app
from sqlalchemy import and_, or_, select, update

from backoffice.clients.fines_registry import FinesRegistryClient
from backoffice.clients.momo import MomoClient
from backoffice.clients.partner_http import PartnerReply
from backoffice.extensions import db
from backoffice.models import Account
from backoffice.models.base import utcnow
from backoffice.models.fines import FinePayment, FinePaymentItem, PaymentStatus
from backoffice.services import ledger
from backoffice.services.api_clients import sign
from backoffice.services.fines import add_event, as_json, release_claims, transition
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
        self.grace = config["FINES_REWRITE_GRACE_SECONDS"]
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
            f"Issue inconnue après {payment.checks} vérification(s) à l'étape {payment.status_label} : "
            "à vérifier par un administrateur.",
        )
        return True

    def backoff(self, payment: FinePayment) -> float:
        payment.checks += 1
        delay = min(self.backoff_base * (2 ** min(payment.checks - 1, 12)), self.backoff_max)
        return delay * random.uniform(0.8, 1.2)

    # Endings ----------------------------------------------------------------------------------

    def to_review(self, payment: FinePayment, code: str, message: str) -> None:
        payment.paused_status = payment.status
        transition(payment, PaymentStatus.A_VERIFIER)
        payment.reason_code = code
        payment.reason = message[:500]
        add_event(payment, "A_VERIFIER", message)

    def finish(self, payment: FinePayment, status: PaymentStatus, code: str | None, message: str) -> None:
        """A final state: free the fines not paid here, and queue the client's callback."""
        transition(payment, status)
        payment.reason_code = code
        payment.reason = message[:500] if code else None
        payment.next_attempt_at = None
        release_claims(payment)
        if payment.callback_url:
            payment.callback_status = "EN_ATTENTE"
            payment.callback_next_at = utcnow()
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
        for item in payment.items:
            if item.amount is not None:
                continue
            self.renew()
            reply = self.registry.fine(item.numero)
            add_event(
                payment,
                "VERIFICATION",
                f"Registre : amende {item.numero}" + (" — pas de réponse" if reply.unknown else ""),
                request={"GET": f"/amendes/{item.numero}"},
                response=reply.trace(),
            )
            if reply.unknown:
                return self.backoff(payment)
            problem = self._verification_problem(payment, item, reply)
            if problem:
                code, message = problem
                self.finish(payment, PaymentStatus.REJETE, code, message)
                return None
            item.amount = int(reply.body["montant"])
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

    def _verification_problem(self, payment: FinePayment, item: FinePaymentItem, reply: PartnerReply):
        body = reply.body
        if reply.status == 404:
            return "AMENDE_INCONNUE", f"L'amende {item.numero} est inconnue du registre."
        if reply.status != 200 or not isinstance(body.get("montant"), int):
            return "REPONSE_INATTENDUE", f"Réponse inattendue du registre pour {item.numero} (HTTP {reply.status})."
        if body.get("telephone") != payment.telephone:
            return "AMENDE_AUTRE_TELEPHONE", f"L'amende {item.numero} n'appartient pas au numéro {payment.telephone}."
        if body.get("statut") != "IMPAYEE":
            return "AMENDE_DEJA_PAYEE", f"L'amende {item.numero} est déjà payée."
        if body.get("devise") != payment.currency:
            return (
                "DEVISE_INCORRECTE",
                f"L'amende {item.numero} est en {body.get('devise')}, pas en {payment.currency}.",
            )
        return None

    # Step 2: debit the citizen ----------------------------------------------------------------

    def start_debit(self, payment: FinePayment) -> float | None:
        transition(payment, PaymentStatus.DEBIT_EN_COURS)
        return self.send_debit(payment)

    def send_debit(self, payment: FinePayment) -> float | None:
        payment.debit_sent_at = utcnow()
        payment.debit_posts += 1
        self.renew()  # commits: "sent" is saved before the call
        payload = {
            "id": payment.debit_id,
            "telephone": payment.telephone,
            "montant": payment.amount,
            "devise": payment.currency,
            "motif": f"Amendes {', '.join(payment.numeros)}",
        }
        reply = self.momo.debit(payment.debit_id, payment.telephone, payment.amount, payment.currency, payload["motif"])
        add_event(payment, "DEBIT", _sent_message("Débit", reply), request=payload, response=reply.trace())
        if reply.unknown:
            return self.backoff(payment)
        if reply.status == 409:
            return None  # the operator had this id: read its outcome now
        if reply.status == 200:
            return self._debit_outcome(payment, reply.body)
        self.to_review(
            payment, "REPONSE_INATTENDUE", f"Réponse inattendue de l'opérateur au débit (HTTP {reply.status})."
        )
        return None

    def check_debit(self, payment: FinePayment) -> float | None:
        if payment.debit_sent_at is None:
            return self.send_debit(payment)
        self.renew()
        reply = self.momo.debit_status(payment.debit_id)
        add_event(
            payment,
            "DEBIT_STATUT",
            _check_message("débit", reply),
            request={"GET": f"/debits/{payment.debit_id}"},
            response=reply.trace(),
        )
        if reply.unknown:
            return self.backoff(payment)
        if reply.status == 404:
            if _age(payment.debit_sent_at) >= self.grace:
                return self.send_debit(payment)  # same id: a late original answers 409
            return self.backoff(payment)
        if reply.status == 200:
            return self._debit_outcome(payment, reply.body)
        self.to_review(payment, "REPONSE_INATTENDUE", f"Réponse inattendue de l'opérateur (HTTP {reply.status}).")
        return None

    def _debit_outcome(self, payment: FinePayment, body: dict) -> float | None:
        statut = body.get("statut")
        if statut == "REUSSI":
            payment.debit_outcome = "REUSSI"
            payment.checks = 0
            transition(payment, PaymentStatus.DEBITE)
            add_event(
                payment,
                "DEBITE",
                f"Abonné {payment.telephone} débité de {format_amount(payment.amount, payment.currency)}.",
            )
            return None
        if statut == "ECHOUE":
            raison = body.get("raison") or "ECHOUE"
            payment.debit_outcome = "ECHOUE"
            self.finish(
                payment,
                PaymentStatus.ECHEC,
                raison,
                f"Débit refusé par l'opérateur : {DEBIT_REASONS.get(raison, raison)}",
            )
            return None
        return self.backoff(payment)  # EN_COURS

    # Step 3: mark the fines paid --------------------------------------------------------------

    def mark_fines(self, payment: FinePayment) -> float | None:
        for item in payment.items:
            if item.mark_outcome is not None:
                continue
            wait = self.send_mark(payment, item) if item.mark_sent_at is None else self.check_mark(payment, item)
            if item.mark_outcome is None:
                return wait
        return self._after_marks(payment)

    def send_mark(self, payment: FinePayment, item: FinePaymentItem) -> float | None:
        item.mark_sent_at = utcnow()
        item.mark_posts += 1
        self.renew()
        payload = {"paiement_id": item.mark_id, "montant": item.amount}
        reply = self.registry.mark_paid(item.numero, item.mark_id, item.amount or 0)
        add_event(
            payment,
            "MARQUAGE",
            _sent_message(f"Amende {item.numero} marquée payée", reply),
            request={"POST": f"/amendes/{item.numero}/paiements", **payload},
            response=reply.trace(),
        )
        if reply.unknown:
            return self.backoff(payment)
        body = reply.body
        if reply.status == 200 or (reply.status == 409 and body.get("paiement_id") == item.mark_id):
            self._mark_outcome(payment, item, "PAYEE")
        elif reply.status == 409:
            self._mark_outcome(payment, item, "DEJA_PAYEE", f"payée par {body.get('paiement_id')}")
        elif reply.status == 422:
            self._mark_outcome(payment, item, "MONTANT_INCORRECT", f"attendu {body.get('montant_attendu')}")
        elif reply.status == 404:
            self._mark_outcome(payment, item, "INCONNUE")
        else:
            self.to_review(payment, "REPONSE_INATTENDUE", f"Réponse inattendue du registre (HTTP {reply.status}).")
            return None
        return None

    def check_mark(self, payment: FinePayment, item: FinePaymentItem) -> float | None:
        self.renew()
        reply = self.registry.fine(item.numero)
        add_event(
            payment,
            "MARQUAGE_STATUT",
            _check_message(f"amende {item.numero}", reply),
            request={"GET": f"/amendes/{item.numero}"},
            response=reply.trace(),
        )
        if reply.unknown:
            return self.backoff(payment)
        body = reply.body
        if reply.status == 404:
            self._mark_outcome(payment, item, "INCONNUE")
        elif reply.status == 200 and body.get("statut") == "PAYEE":
            if body.get("paiement_id") == item.mark_id:
                self._mark_outcome(payment, item, "PAYEE")
            else:
                self._mark_outcome(payment, item, "DEJA_PAYEE", f"payée par {body.get('paiement_id')}")
        elif reply.status == 200:
            # Not (yet) applied: wait out a late write, then repeat it with the same id.
            if _age(item.mark_sent_at) >= self.grace:
                return self.send_mark(payment, item)
            return self.backoff(payment)
        else:
            self.to_review(payment, "REPONSE_INATTENDUE", f"Réponse inattendue du registre (HTTP {reply.status}).")
        return None

    def _mark_outcome(self, payment: FinePayment, item: FinePaymentItem, outcome: str, detail: str = "") -> None:
        item.mark_outcome = outcome
        item.mark_detail = detail[:200] or None
        payment.checks = 0
        if outcome == "PAYEE":
            add_event(payment, "AMENDE_PAYEE", f"Amende {item.numero} enregistrée payée au registre.")
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
            f"{len(unpaid)} amende(s) non enregistrée(s) : remboursement de {format_amount(payment.refund_amount, payment.currency)}.",
        )
        return None

    # Step 4: refund what could not be applied -------------------------------------------------

    def send_refund(self, payment: FinePayment) -> float | None:
        payment.refund_sent_at = utcnow()
        payment.refund_posts += 1
        self.renew()
        payload = {"id": payment.refund_id, "debit_id": payment.debit_id, "montant": payment.refund_amount}
        reply = self.momo.refund(payment.refund_id, payment.debit_id, payment.refund_amount)
        add_event(
            payment, "REMBOURSEMENT", _sent_message("Remboursement", reply), request=payload, response=reply.trace()
        )
        if reply.unknown:
            return self.backoff(payment)
        if reply.status == 409:
            return None
        if reply.status == 200:
            return self._refund_outcome(payment, reply.body)
        self.to_review(payment, "REPONSE_INATTENDUE", f"Réponse inattendue au remboursement (HTTP {reply.status}).")
        return None

    def refund(self, payment: FinePayment) -> float | None:
        if payment.refund_sent_at is None:
            return self.send_refund(payment)
        self.renew()
        reply = self.momo.refund_status(payment.refund_id)
        add_event(
            payment,
            "REMBOURSEMENT_STATUT",
            _check_message("remboursement", reply),
            request={"GET": f"/remboursements/{payment.refund_id}"},
            response=reply.trace(),
        )
        if reply.unknown:
            return self.backoff(payment)
        if reply.status == 404:
            if _age(payment.refund_sent_at) >= self.grace:
                return self.send_refund(payment)
            return self.backoff(payment)
        if reply.status == 200:
            return self._refund_outcome(payment, reply.body)
        self.to_review(payment, "REPONSE_INATTENDUE", f"Réponse inattendue de l'opérateur (HTTP {reply.status}).")
        return None

    def _refund_outcome(self, payment: FinePayment, body: dict) -> float | None:
        statut = body.get("statut")
        if statut == "REUSSI":
            payment.refund_outcome = "REUSSI"
            unpaid = [i for i in payment.items if i.mark_outcome != "PAYEE"]
            self._collect(payment, payment.amount - payment.refund_amount)
            first = unpaid[0]
            partial = " (remboursement partiel)" if payment.refund_amount < payment.amount else ""
            self.finish(
                payment,
                PaymentStatus.REMBOURSE,
                first.mark_outcome,
                f"Amende(s) {', '.join(i.numero for i in unpaid)} {MARK_REASONS.get(first.mark_outcome or '', '')} : "
                f"{format_amount(payment.refund_amount, payment.currency)} remboursés à l'abonné{partial}.",
            )
            return None
        if statut == "ECHOUE":
            payment.refund_outcome = "ECHOUE"
            self.to_review(
                payment,
                "REMBOURSEMENT_ECHOUE",
                f"Le remboursement a échoué ({body.get('raison')}) : à traiter à la main.",
            )
            return None
        return self.backoff(payment)


def _age(moment: datetime | None) -> float:
    return (utcnow() - moment).total_seconds() if moment else float("inf")


def _sent_message(what: str, reply: PartnerReply) -> str:
    if reply.status is None:
        return f"{what} : pas de réponse ({reply.error}), issue inconnue."
    if reply.status == 504:
        return f"{what} : 504, issue inconnue — vérification par le statut."
    if reply.status == 409:
        return f"{what} : 409, déjà reçu par le partenaire — lecture du statut."
    return f"{what} : HTTP {reply.status}."


def _check_message(what: str, reply: PartnerReply) -> str:
    if reply.unknown:
        return f"Statut du {what} : pas de réponse exploitable ({reply.status or reply.error})."
    if reply.status == 404:
        return f"Statut du {what} : pas (encore) enregistré."
    statut = reply.body.get("statut")
    return f"Statut du {what} : {statut}." if statut else f"Statut du {what} : HTTP {reply.status}."


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


# Callback to the client application ----------------------------------------------------------


def send_callback(payment_id: str) -> float | None:
    """POST the final state to the client's callback_url, signed; returns the retry delay or None."""
    config = current_app.config
    payment = db.session.get(FinePayment, payment_id, populate_existing=True)
    if payment is None or payment.callback_status != "EN_ATTENTE" or not payment.callback_url:
        return None
    body = json.dumps(as_json(payment, with_timeline=False), separators=(",", ":"), ensure_ascii=False).encode()
    signature = sign(payment.api_client.signing_secret, body)
    payment.callback_attempts += 1
    db.session.commit()
    try:
        response = requests.post(
            payment.callback_url,
            data=body,
            headers={"Content-Type": "application/json", "X-Signature": signature, "X-Paiement-Id": payment.id},
            timeout=config["FINES_CALLBACK_TIMEOUT_SECONDS"],
        )
        status: int | None = response.status_code
        error = None
    except requests.RequestException as exc:
        status, error = None, exc.__class__.__name__
    ok = status is not None and 200 <= status < 300
    trace = {"http": status, "erreur": error} if error else {"http": status}
    if ok:
        payment.callback_status = "ENVOYE"
        payment.callback_next_at = None
        add_event(payment, "RAPPEL", f"Notification envoyée à l'application ({status}).", response=trace)
        db.session.commit()
        return None
    if payment.callback_attempts >= config["FINES_CALLBACK_MAX_ATTEMPTS"]:
        payment.callback_status = "ABANDONNE"
        payment.callback_next_at = None
        add_event(
            payment, "RAPPEL", f"Notification abandonnée après {payment.callback_attempts} essais.", response=trace
        )
        db.session.commit()
        return None
    delay = min(config["FINES_BACKOFF_BASE_SECONDS"] * 2 ** (payment.callback_attempts - 1), 3600.0)
    payment.callback_next_at = utcnow() + timedelta(seconds=delay)
    add_event(
        payment, "RAPPEL", f"Notification non reçue (essai {payment.callback_attempts}) : nouvel essai.", response=trace
    )
    db.session.commit()
    return delay


# Finding work that nobody is doing ------------------------------------------------------------


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
    active = [
        s.value
        for s in PaymentStatus
        if s.value not in {"PAYE", "REJETE", "ECHEC", "REMBOURSE", "CLOTURE", "A_VERIFIER"}
    ]
    return list(
        db.session.scalars(
            select(FinePayment.id)
            .where(
                FinePayment.status.in_(active),
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
