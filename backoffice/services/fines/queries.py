"""Reading fines payments: the API's view of one, and the back-office's filtered lists."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, select

from backoffice.extensions import db
from backoffice.models.fines import FinePayment
from backoffice.services.fines.states import timeline


def payment_link(payment_id: str) -> str:
    """Where the API serves a payment (the `lien` of its answers and its Location header)."""
    return f"/amendes/payments/{payment_id}/"


def as_json(payment: FinePayment, with_timeline: bool = True) -> dict:
    """The API's view of a payment: status, amounts, fines, and the timeline of steps."""
    data: dict = {
        "id": payment.id,
        "reference": payment.reference,
        "statut": payment.status,
        "statut_libelle": payment.status_label,
        "raison": payment.reason_code,
        "raison_libelle": payment.reason,
        "telephone": payment.telephone,
        "montant": payment.amount,
        "devise": payment.currency,
        "montant_rembourse": payment.refund_amount if payment.refund_outcome == "REUSSI" else 0,
        "amendes": [
            {"numero": i.numero, "montant": i.amount, "statut": i.mark_outcome or "EN_ATTENTE"} for i in payment.items
        ],
        "cree_le": _iso(payment.created_at),
        "termine_le": _iso(payment.completed_at),
        "lien": payment_link(payment.id),
    }
    if with_timeline:
        data["etapes"] = [
            {
                "etape": e.step,
                "date": _iso(e.created_at),
                "statut": e.status,
                "message": e.message,
                "envoye": e.request,
                "recu": e.response,
            }
            for e in timeline(payment)
        ]
    return data


def payment_by_reference(organisation_id: int, reference: str) -> FinePayment | None:
    """An organisation's payment by the client's own reference (unique per organisation)."""
    return db.session.scalar(
        select(FinePayment).where(FinePayment.organisation_id == organisation_id, FinePayment.reference == reference)
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value else None


def search_payments(
    organisation_id: int | None,
    status: str = "",
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    phone: str = "",
    reference: str = "",
) -> Select:
    """Payments of an organisation (None: all, for admins), newest first, filtered."""
    stmt = select(FinePayment).order_by(FinePayment.created_at.desc(), FinePayment.id)
    if organisation_id is not None:
        stmt = stmt.where(FinePayment.organisation_id == organisation_id)
    if status:
        stmt = stmt.where(FinePayment.status == status)
    if date_from:
        stmt = stmt.where(FinePayment.created_at >= date_from)
    if date_to:
        stmt = stmt.where(FinePayment.created_at < date_to + timedelta(days=1))
    if phone:
        stmt = stmt.where(FinePayment.telephone.like(f"%{_like(phone.lstrip('+'))}%", escape="\\"))
    if reference:
        stmt = stmt.where(FinePayment.reference.ilike(f"%{_like(reference)}%", escape="\\"))
    return stmt


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
