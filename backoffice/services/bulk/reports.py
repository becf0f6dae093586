"""A batch's CSV reports (every row, or the rows with problems) that open safely in Excel.

Both reports are produced page by page (keyset on the line number, EXPORT_PAGE rows at a
time) so that a download of 100 000 rows never holds more than one page, nor a database
session between two pages: the view streams `csv_page`.
"""

from __future__ import annotations

import csv
import io

from sqlalchemy import or_, select

from backoffice.extensions import db
from backoffice.models.batches import ROW_STATUS_LABELS, Batch, BatchRow
from backoffice.services.locale import format_iso_local, zone_label
from backoffice.services.mojaloop_errors import error_label
from backoffice.services.money import CURRENCIES, plain_decimal
from backoffice.services.spreadsheets import safe_cell

EXPORT_PAGE = 2000


def _write(rows: list[list], delimiter: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


def csv_header(report: str, batch_id: int, delimiter: str = ",") -> str:
    """The BOM (so Excel reads UTF-8) and the header line of a report."""
    batch = db.session.get(Batch, batch_id)
    if report == "errors":
        header = ["ligne", "gravite", "champ", "motif", "identifiant", f"montant_lu ({batch.currency})", "statut"]
    else:
        # Amounts in the currency's unit, with a point as decimal mark when it has minor units.
        unit = f"{batch.currency}, en unités" + (", point décimal" if CURRENCIES.get(batch.currency, 2) else "")
        header = [
            "ligne",
            "type_identifiant",
            "identifiant",
            "nom_fichier",
            "nom_mojaloop",
            f"montant ({unit})",
            f"frais ({unit})",
            "devise",
            "statut",
            "libelle_statut",
            "transfer_id",
            "reference_transaction",
            "code_erreur",
            "motif_erreur",
            "description_recue",
            f"termine_le, {zone_label(batch.organisation.timezone)}",
        ]
    return "\ufeff" + _write([header], delimiter)


EXPORT_COLUMNS = (
    "line_number",
    "party_id_type",
    "party_id_value",
    "name",
    "payee_name",
    "amount",
    "fee",
    "currency",
    "status",
    "transfer_id",
    "home_transaction_id",
    "error_code",
    "error_description",
    "completed_at",
    "errors",
    "warnings",
)
_STATUS_TEXT = {status.value: label for status, label in ROW_STATUS_LABELS.items()}


def csv_page(report: str, batch_id: int, after_line: int, delimiter: str = ",") -> tuple[str, int | None]:
    """One page of a report after `after_line`; returns its text and the next cursor (None at the end)."""
    batch = db.session.get(Batch, batch_id)
    # Plain tuples (no ORM objects): a 100 000-row export spends its time writing, not loading.
    table = BatchRow.__table__
    stmt = select(*(table.c[name] for name in EXPORT_COLUMNS)).where(
        table.c.batch_id == batch_id, table.c.line_number > after_line
    )
    if report == "errors":
        stmt = stmt.where(or_(table.c.errors.is_not(None), table.c.warnings.is_not(None)))
    rows = db.session.execute(stmt.order_by(table.c.line_number).limit(EXPORT_PAGE)).tuples().all()
    if not rows:
        return "", None
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if report == "errors":
        writer.writerows(line for row in rows for line in _error_lines(row, batch.currency))
    else:
        writer.writerows(_export_line(row, batch.currency, batch.organisation.timezone) for row in rows)
    last = rows[-1][0]
    return buffer.getvalue(), (last if len(rows) == EXPORT_PAGE else None)


def _export_line(row: tuple, currency: str, timezone: str) -> list:
    (line, id_type, id_value, name, payee_name, amount, fee, row_currency, status, transfer_id, home_id) = row[:11]
    error_code, description, completed_at, errors = row[11:15]
    # The French description first; the one the switch sent, as received, beside it.
    motif = error_label(error_code, description) if error_code else ""
    if not description and errors:
        description = " ; ".join(f"{e['field']} : {e['message']}" for e in errors)
        motif = description
    unit_currency = row_currency if row_currency in CURRENCIES else currency
    return [
        line,
        safe_cell(id_type),
        safe_cell(id_value),
        safe_cell(name),
        safe_cell(payee_name),
        plain_decimal(amount, unit_currency),
        plain_decimal(fee, unit_currency),
        safe_cell(row_currency),
        status,
        _STATUS_TEXT.get(status, status),
        transfer_id,
        safe_cell(home_id),
        safe_cell(error_code),
        safe_cell(motif),
        safe_cell(description),
        format_iso_local(completed_at, timezone),
    ]


def _error_lines(row: tuple, currency: str) -> list[list]:
    line, id_value, amount, row_currency, status = row[0], row[2], row[5], row[7], row[8]
    errors, warnings = row[14], row[15]
    amount_text = plain_decimal(amount, row_currency if row_currency in CURRENCIES else currency)
    label = _STATUS_TEXT.get(status, status)
    problems = [("erreur", e) for e in errors or []] + [("avertissement", w) for w in warnings or []]
    return [
        [line, kind, safe_cell(p["field"]), safe_cell(p["message"]), safe_cell(id_value), amount_text, label]
        for kind, p in problems
    ]
