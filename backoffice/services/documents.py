"""Documents people sign or file: a batch's *Ordre de paiement* and its final report, as PDF.

HTML templates (templates/documents/) printed by WeasyPrint with Debian's DejaVu fonts;
every figure comes from the same services as the pages (statistics, progress) and every
time is in the organisation's zone, named on the document.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchRow, BatchStatus, RowStatus
from backoffice.services import ServiceError
from backoffice.services.mojaloop_errors import error_label

# An order exists once a second person approved the batch; a report once its payment ended.
ORDER_STATUSES = {
    BatchStatus.APPROVED.value,
    BatchStatus.PROCESSING.value,
    BatchStatus.COMPLETED.value,
    BatchStatus.PARTIALLY_COMPLETED.value,
    BatchStatus.FAILED.value,
}
REPORT_STATUSES = {BatchStatus.COMPLETED.value, BatchStatus.PARTIALLY_COMPLETED.value, BatchStatus.FAILED.value}


@dataclass
class FailureLine:
    code: str
    label: str
    received: str
    count: int
    amount: int


def has_payment_order(batch: Batch) -> bool:
    return batch.status in ORDER_STATUSES and batch.approved_at is not None


def has_final_report(batch: Batch) -> bool:
    return batch.status in REPORT_STATUSES


def failures_by_reason(batch_id: int) -> list[FailureLine]:
    """Failed rows grouped by error code, most frequent first, with the French label."""
    rows = db.session.execute(
        select(
            BatchRow.error_code,
            func.count(),
            func.coalesce(func.sum(BatchRow.amount), 0),
            func.max(BatchRow.error_description),
        )
        .where(BatchRow.batch_id == batch_id, BatchRow.status == RowStatus.FAILED.value)
        .group_by(BatchRow.error_code)
    ).all()
    lines = [
        FailureLine(code or "—", error_label(code, description), description or "", int(count), int(amount))
        for code, count, amount, description in rows
    ]
    return sorted(lines, key=lambda line: (-line.count, line.code))


def payment_order_pdf(batch: Batch, reader: User) -> bytes:
    """The *Ordre de paiement*: totals, payer account, who uploaded and approved, when; signatures."""
    if not has_payment_order(batch):
        raise ServiceError("L’ordre de paiement n’existe qu’une fois le lot approuvé.")
    from backoffice.services.bulk.history import statistics

    return _render("documents/payment_order.html", batch, reader, stats=statistics(batch))


def final_report_pdf(batch: Batch, reader: User) -> bytes:
    """The final report: counts, amounts, fees, duration and failures by reason."""
    if not has_final_report(batch):
        raise ServiceError("Le rapport final n’existe qu’une fois le paiement du lot terminé.")
    from backoffice.services.bulk.progress import progress

    return _render(
        "documents/final_report.html", batch, reader, p=progress(batch), failures=failures_by_reason(batch.id)
    )


def _render(template: str, batch: Batch, reader: User, **context) -> bytes:
    """A document of the batch, its times in the organisation's zone, stamped with who printed it when."""
    html = render_template(
        template, batch=batch, reader=reader, tz=batch.organisation.timezone, generated_at=utcnow(), **context
    )
    return _pdf(html)


def _pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html).write_pdf()
