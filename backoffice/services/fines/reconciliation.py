"""Reconciling a day of fines payments: our debits, refunds and marks, discrepancies first.

For each payment received that day (the organisation's calendar day, in its time zone): the operator's debit and refund (ids, outcomes,
amounts) and the registry's marks, as our records hold them. A payment is a discrepancy
when those records do not add up:
- a debit without a mark or a refund (money taken, nothing given, nothing returned);
- a mark without a debit (a fine marked paid that nobody paid);
- a refund without a debit;
- amounts that differ (the fines' sum, or what was collected plus refunded, is not the debit).

`verify_live` asks the partners' status endpoints about each discrepancy, so a person sees
what the operator and the registry say now, next to what we recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backoffice.clients.fines_registry import FineAnswer, FinesRegistryClient
from backoffice.clients.momo import MomoClient, MomoOutcome
from backoffice.extensions import db
from backoffice.models import Organisation
from backoffice.models.fines import MARK_OUTCOME_LABELS, FinePayment, PaymentStatus
from backoffice.services.fines.states import ACTIVE_STATUSES
from backoffice.services.locale import utc_bounds

OUTCOME_LABELS = {"REUSSI": "Réussi", "ECHOUE": "Échoué"}


@dataclass
class ReportLine:
    payment: FinePayment
    problems: list[str] = field(default_factory=list)
    live: list[str] = field(default_factory=list)  # what the partners say now (verify_live)

    @property
    def running(self) -> bool:
        return PaymentStatus(self.payment.status) in ACTIVE_STATUSES


def _outcome(sent_at: datetime | None, outcome: str | None) -> str:
    if outcome:
        return OUTCOME_LABELS.get(outcome, outcome)
    return "Issue inconnue" if sent_at else "Non envoyé"


def debit_text(payment: FinePayment) -> str:
    return _outcome(payment.debit_sent_at, payment.debit_outcome)


def refund_text(payment: FinePayment) -> str:
    if not payment.refund_sent_at and not payment.refund_outcome:
        return "—"
    return _outcome(payment.refund_sent_at, payment.refund_outcome)


def marks_text(payment: FinePayment) -> str:
    return " | ".join(
        f"{i.numero} : {MARK_OUTCOME_LABELS.get(i.mark_outcome or '', 'non marquée' if i.mark_sent_at is None else 'issue inconnue')}"
        for i in payment.items
    )


def problems_of(payment: FinePayment) -> list[str]:
    """What does not add up in a payment's records (empty: it reconciles)."""
    if PaymentStatus(payment.status) in ACTIVE_STATUSES:
        return []  # still running: judged once it stops
    debited = payment.debit_outcome == "REUSSI"
    refunded = payment.refund_outcome == "REUSSI"
    marked = [i for i in payment.items if i.mark_outcome == "PAYEE"]
    problems = []
    if debited and not marked and not refunded:
        problems.append("Débit sans amende marquée ni remboursement")
    if marked and not debited:
        problems.append("Amende marquée payée sans débit")
    if refunded and not debited:
        problems.append("Remboursement sans débit")
    verified = [i for i in payment.items if i.amount is not None]
    if len(verified) == len(payment.items) and sum(i.amount or 0 for i in verified) != payment.amount:
        problems.append("Le total des amendes diffère du montant")
    if debited:
        kept = sum(i.amount or 0 for i in marked)
        returned = payment.refund_amount if refunded else 0
        if (marked or refunded) and kept + returned != payment.amount:
            problems.append("Montant débité différent du montant marqué plus remboursé")
        if payment.collected_amount and payment.collected_amount != kept:
            problems.append("Montant encaissé différent du montant des amendes marquées")
    return problems


def day_report(organisation_id: int, day: date) -> list[ReportLine]:
    """The day's payments of an organisation, discrepancies first, then by time received."""
    organisation = db.session.get(Organisation, organisation_id)
    start, end = utc_bounds(day, day + timedelta(days=1), organisation.timezone if organisation else None)
    payments = db.session.scalars(
        select(FinePayment)
        .options(selectinload(FinePayment.items))
        .where(
            FinePayment.organisation_id == organisation_id,
            FinePayment.created_at >= start,
            FinePayment.created_at < end,
        )
        .order_by(FinePayment.created_at, FinePayment.id)
    ).all()
    lines = [ReportLine(p, problems_of(p)) for p in payments]
    lines.sort(key=lambda line: not line.problems)  # stable: discrepancies first, time order kept
    return lines


def verify_live(lines: list[ReportLine], registry: FinesRegistryClient, momo: MomoClient, limit: int = 50) -> int:
    """Ask the partners about each discrepancy (at most `limit`); returns how many were checked."""
    checked = 0
    for line in lines:
        if not line.problems or checked >= limit:
            continue
        checked += 1
        p = line.payment
        if p.debit_sent_at is not None or p.debit_outcome:
            line.live.append("Débit chez l'opérateur : " + _momo_text(momo.debit_status(p.debit_id)))
        if p.refund_sent_at is not None or p.refund_outcome:
            line.live.append("Remboursement chez l'opérateur : " + _momo_text(momo.refund_status(p.refund_id)))
        for item in p.items:
            reading = registry.fine(item.numero)
            if reading.answer is FineAnswer.FOUND:
                if reading.is_paid:
                    who = "par ce paiement" if reading.payment_id == item.mark_id else f"par {reading.payment_id}"
                    text = f"payée {who}"
                else:
                    text = "impayée"
            elif reading.answer is FineAnswer.NOT_FOUND:
                text = "inconnue"
            else:
                text = f"pas de réponse ({reading.reply.status or reading.reply.error})"
            line.live.append(f"Registre, amende {item.numero} : {text}")
    return checked


def _momo_text(result) -> str:
    return {
        MomoOutcome.SUCCEEDED: "réussi",
        MomoOutcome.FAILED: f"échoué ({result.reason})",
        MomoOutcome.PENDING: "en cours",
        MomoOutcome.NOT_FOUND: "inconnu de l'opérateur",
    }.get(result.outcome, f"pas de réponse ({result.reply.status or result.reply.error})")


CSV_HEADER = [
    "Écarts",
    "Référence",
    "Identifiant",
    "Reçu le (UTC)",
    "Téléphone",
    "Montant",
    "Devise",
    "Statut",
    "Code statut",
    "Débit (id)",
    "Débit (issue)",
    "Remboursement (id)",
    "Remboursement (montant)",
    "Remboursement (issue)",
    "Encaissé",
    "Marquages au registre",
    "Vérification en direct",
]


def csv_rows(lines: list[ReportLine]):
    yield CSV_HEADER
    for line in lines:
        p = line.payment
        yield [
            " ; ".join(line.problems),
            p.reference,
            p.id,
            p.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            p.telephone,
            p.amount,
            p.currency,
            p.status_label,
            p.status,
            p.debit_id,
            debit_text(p),
            p.refund_id if p.refund_sent_at or p.refund_outcome else "",
            p.refund_amount or "",
            refund_text(p),
            p.collected_amount,
            marks_text(p),
            " ; ".join(line.live),
        ]
