"""Fines payments, API clients and their timelines (see the fines area).

A payment's id is a random hex string: partner write ids are derived from it
(`<id>-debit`, `<id>-<fine>`, `<id>-refund`), so they stay unique even across databases
that share the same partners. Money is an integer of the currency's minor unit.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.organisations import Organisation


def new_payment_id() -> str:
    return uuid.uuid4().hex


class ApiClient(db.Model):
    """A client application (e.g. the citizens' app) allowed to call the fines API.

    Only the SHA-256 of the key is stored; the signing secret (HMAC of callbacks) must be
    kept readable to sign with it.
    """

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12), default="")
    signing_secret: Mapped[str] = mapped_column(String(128))
    # What the key may do (services/api_clients.SCOPES), and the technical user its batch
    # actions are recorded under (batches need a creator; the user can never sign in).
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
    user = relationship("User", foreign_keys=[user_id])

    def __repr__(self) -> str:
        return f"<ApiClient {self.name}>"


class PaymentStatus(enum.StrEnum):
    RECU = "RECU"
    VERIFIE = "VERIFIE"
    DEBIT_EN_COURS = "DEBIT_EN_COURS"
    DEBITE = "DEBITE"
    PAYE = "PAYE"
    REJETE = "REJETE"
    ECHEC = "ECHEC"
    REMBOURSEMENT_EN_COURS = "REMBOURSEMENT_EN_COURS"
    REMBOURSE = "REMBOURSE"
    A_VERIFIER = "A_VERIFIER"
    CLOTURE = "CLOTURE"  # closed by an administrator after a manual check


PAYMENT_STATUS_LABELS = {
    PaymentStatus.RECU: "Reçu",
    PaymentStatus.VERIFIE: "Vérifié",
    PaymentStatus.DEBIT_EN_COURS: "Débit en cours",
    PaymentStatus.DEBITE: "Débité",
    PaymentStatus.PAYE: "Payé",
    PaymentStatus.REJETE: "Rejeté",
    PaymentStatus.ECHEC: "Échec",
    PaymentStatus.REMBOURSEMENT_EN_COURS: "Remboursement en cours",
    PaymentStatus.REMBOURSE: "Remboursé",
    PaymentStatus.A_VERIFIER: "À vérifier",
    PaymentStatus.CLOTURE: "Clôturé",
}

# Why a payment ended as it did (reason_code → what a person reads). The codes stay in the
# JSON API; the back-office shows these, the code only as secondary detail.
REASON_LABELS = {
    "SOLDE_INSUFFISANT": "Solde insuffisant",
    "COMPTE_INCONNU": "Compte mobile money inconnu",
    "REFUSE_PAR_CLIENT": "Refusé par l'abonné",
    "ECHOUE": "Débit refusé par l'opérateur",
    "MONTANT_INCORRECT": "Montant incorrect",
    "AMENDE_DEJA_PAYEE": "Amende déjà payée",
    "DEJA_PAYEE": "Amende déjà payée par un autre canal",
    "AMENDE_INCONNUE": "Amende inconnue",
    "INCONNUE": "Amende inconnue du registre",
    "AMENDE_AUTRE_TELEPHONE": "Amende d'un autre numéro",
    "DEVISE_INCORRECTE": "Devise incorrecte",
    "BUDGET_EPUISE": "Issue non établie dans le délai",
    "REPONSE_INATTENDUE": "Réponse inattendue d'un partenaire",
    "REMBOURSEMENT_ECHOUE": "Remboursement refusé par l'opérateur",
}

# A fine's outcome at the registry (FinePaymentItem.mark_outcome).
MARK_OUTCOME_LABELS = {
    "PAYEE": "Payée",
    "DEJA_PAYEE": "Déjà payée par un autre canal",
    "MONTANT_INCORRECT": "Montant refusé par le registre",
    "INCONNUE": "Inconnue du registre",
}

# The timeline's steps (FinePaymentEvent.step), as a person reads them.
STEP_LABELS = {
    "RECU": "Demande reçue",
    "VERIFICATION": "Vérification au registre",
    "VERIFIE": "Amendes vérifiées",
    "DEBIT": "Débit demandé",
    "DEBIT_STATUT": "Statut du débit",
    "DEBITE": "Débit accepté",
    "MARQUAGE": "Marquage au registre",
    "MARQUAGE_STATUT": "Statut de l'amende",
    "AMENDE_PAYEE": "Amende payée",
    "AMENDE_NON_PAYEE": "Amende non payée",
    "REMBOURSEMENT_EN_COURS": "Remboursement décidé",
    "REMBOURSEMENT": "Remboursement demandé",
    "REMBOURSEMENT_STATUT": "Statut du remboursement",
    "REMBOURSE": "Remboursé",
    "ENCAISSEMENT": "Encaissement",
    "PAYE": "Payé",
    "REJETE": "Rejeté",
    "ECHEC": "Échec",
    "A_VERIFIER": "À vérifier",
    "RELANCE": "Relancé",
    "CLOTURE": "Clôturé",
    "RAPPEL": "Notification à l'application",
}


def reason_label(code: str | None) -> str:
    return REASON_LABELS.get(code or "", code or "")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 amende", "2 amendes" (French: 0 and 1 take the singular)."""
    return f"{count} {singular if abs(count) < 2 else plural_form or singular + 's'}"


FINAL_PAYMENT_STATUSES = {
    PaymentStatus.PAYE,
    PaymentStatus.REJETE,
    PaymentStatus.ECHEC,
    PaymentStatus.REMBOURSE,
    PaymentStatus.CLOTURE,
}

STATUS_BADGES = {
    PaymentStatus.PAYE: "ok",
    PaymentStatus.REJETE: "danger",
    PaymentStatus.ECHEC: "danger",
    PaymentStatus.REMBOURSE: "warn",
    PaymentStatus.A_VERIFIER: "warn",
    PaymentStatus.CLOTURE: "muted",
}


class FinePayment(db.Model):
    __tablename__ = "fine_payments"
    __table_args__ = (
        # The client's reference and idempotency key identify one payment per organisation:
        # concurrent duplicates collide here and converge on one row.
        UniqueConstraint("organisation_id", "reference", name="uq_fine_payments_org_reference"),
        UniqueConstraint("organisation_id", "idempotency_key", name="uq_fine_payments_org_idempotency_key"),
        Index("ix_fine_payments_org_created", "organisation_id", "created_at"),
        Index("ix_fine_payments_org_status", "organisation_id", "status"),
        Index("ix_fine_payments_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_payment_id)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    telephone: Mapped[str] = mapped_column(String(20), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    callback_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(24), default=PaymentStatus.RECU.value)
    reason_code: Mapped[str | None] = mapped_column(String(48))
    reason: Mapped[str | None] = mapped_column(String(500))

    # Debit and refund at the operator: ids saved at creation, before any call.
    debit_id: Mapped[str] = mapped_column(String(64), unique=True)
    debit_sent_at: Mapped[datetime | None]  # last POST (None: never sent)
    debit_posts: Mapped[int] = mapped_column(default=0)
    debit_outcome: Mapped[str | None] = mapped_column(String(16))  # REUSSI / ECHOUE
    refund_id: Mapped[str] = mapped_column(String(64), unique=True)
    refund_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_sent_at: Mapped[datetime | None]
    refund_posts: Mapped[int] = mapped_column(default=0)
    refund_outcome: Mapped[str | None] = mapped_column(String(16))
    collected_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # credited to the organisation

    # Processing bookkeeping: lease of the job working on it, retry budget, next attempt.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    unknown_since: Mapped[datetime | None]  # the current write's outcome is unknown since
    checks: Mapped[int] = mapped_column(default=0)  # status checks of the current step
    deadline_at: Mapped[datetime | None]  # retry budget: past it, the payment goes A_VERIFIER
    paused_status: Mapped[str | None] = mapped_column(String(24))  # where A_VERIFIER resumes
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    # Callback to the client application (final state, signed)
    callback_status: Mapped[str | None] = mapped_column(String(16))  # EN_ATTENTE / ENVOYE / ABANDONNE
    callback_attempts: Mapped[int] = mapped_column(default=0)
    callback_next_at: Mapped[datetime | None]

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
    api_client: Mapped[ApiClient] = relationship()
    items: Mapped[list[FinePaymentItem]] = relationship(
        back_populates="payment", order_by="FinePaymentItem.position", cascade="all, delete-orphan"
    )
    reviewed_by = relationship("User", foreign_keys=[reviewed_by_id])

    @property
    def status_label(self) -> str:
        return PAYMENT_STATUS_LABELS.get(PaymentStatus(self.status), self.status)

    @property
    def reason_label(self) -> str:
        return reason_label(self.reason_code)

    @property
    def paused_status_label(self) -> str:
        if not self.paused_status:
            return ""
        return PAYMENT_STATUS_LABELS.get(PaymentStatus(self.paused_status), self.paused_status)

    @property
    def status_badge(self) -> str:
        return STATUS_BADGES.get(PaymentStatus(self.status), "info")

    @property
    def is_final(self) -> bool:
        return PaymentStatus(self.status) in FINAL_PAYMENT_STATUSES

    @property
    def numeros(self) -> list[str]:
        return [item.numero for item in self.items]

    def __repr__(self) -> str:
        return f"<FinePayment {self.id} {self.status}>"


class FinePaymentItem(db.Model):
    """One fine of a payment, and its claim: `active_numero` is unique while the claim holds.

    The claim is set at creation (so a second payment of the same fine collides on the
    unique index, even when both arrive at once) and cleared (NULL) when the payment ends
    without paying that fine.
    """

    __tablename__ = "fine_payment_items"
    __table_args__ = (UniqueConstraint("payment_id", "numero", name="uq_fine_payment_items_payment_numero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("fine_payments.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    numero: Mapped[str] = mapped_column(String(64), index=True)
    active_numero: Mapped[str | None] = mapped_column(String(64), unique=True)
    amount: Mapped[int | None] = mapped_column(BigInteger)  # as the registry says, once verified
    mark_id: Mapped[str] = mapped_column(String(140), unique=True)  # `<payment>-<numero>`
    mark_sent_at: Mapped[datetime | None]
    mark_posts: Mapped[int] = mapped_column(default=0)
    mark_outcome: Mapped[str | None] = mapped_column(String(24))  # PAYEE / DEJA_PAYEE / MONTANT_INCORRECT / INCONNUE
    mark_detail: Mapped[str | None] = mapped_column(String(200))

    payment: Mapped[FinePayment] = relationship(back_populates="items")

    @property
    def mark_outcome_label(self) -> str:
        return MARK_OUTCOME_LABELS.get(self.mark_outcome or "", self.mark_outcome or "")


class FinePaymentEvent(db.Model):
    """One line of a payment's timeline: what was sent, what came back, when."""

    __tablename__ = "fine_payment_events"
    __table_args__ = (Index("ix_fine_payment_events_payment_created", "payment_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("fine_payments.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    step: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str | None] = mapped_column(String(24))  # the payment's status after the step
    request: Mapped[dict | None] = mapped_column(JSON)
    response: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User")

    @property
    def step_label(self) -> str:
        return STEP_LABELS.get(self.step, self.step)
