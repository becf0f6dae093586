"""A batch's PDF documents: the *Ordre de paiement* (once approved) and the final report."""

from __future__ import annotations

from flask import Response, flash, redirect, url_for

from backoffice.batches import bp
from backoffice.models.batches import Batch
from backoffice.pages import current_actor
from backoffice.security import get_for_org, member_required
from backoffice.services import ServiceError, documents


def _document(batch_id: int, render, suffix: str):
    """The PDF as an attachment, or back to the batch page with the reason it does not exist yet."""
    batch = get_for_org(Batch, batch_id)
    try:
        content = render(batch, current_actor())
    except ServiceError as exc:
        flash(str(exc), "warning")
        return redirect(url_for("batches.detail", batch_id=batch.id))
    return Response(
        content,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{batch.reference}-{suffix}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/<int:batch_id>/ordre-de-paiement.pdf", endpoint="payment_order_pdf")
@member_required
def payment_order(batch_id: int):
    return _document(batch_id, documents.payment_order_pdf, "ordre-de-paiement")


@bp.get("/<int:batch_id>/rapport-final.pdf", endpoint="final_report_pdf")
@member_required
def final_report(batch_id: int):
    return _document(batch_id, documents.final_report_pdf, "rapport-final")
