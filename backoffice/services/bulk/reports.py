"""A batch's reports (every row, or the rows with problems) as CSV or .xlsx, safe in Excel.

Both reports are read page by page (keyset on the line number, EXPORT_PAGE rows at a time)
so that a download of 100 000 rows never holds more than one page, nor a database session
between two pages: the view streams `csv_page`, or feeds `report_lines` to the xlsx writer.

One line function gives typed cells (amounts as `Amount`, times as datetimes); the CSV side
writes them for French Excel by default (`;`, decimal comma, amounts in the currency's unit),
the xlsx side as numbers and dates (services/spreadsheets.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import or_, select

from backoffice.extensions import db
from backoffice.models.batches import ROW_STATUS_LABELS, Batch, BatchRow
from backoffice.services.locale import zone_label
from backoffice.services.mojaloop_errors import error_label
from backoffice.services.money import CURRENCIES, CURRENCY_SYMBOLS
from backoffice.services.spreadsheets import Amount, csv_cell

EXPORT_PAGE = 2000
REPORTS = ("export", "errors")


def header(report: str, batch: Batch) -> list[str]:
    """The French column headers of a report; the amounts' currency (as people write it: F CFA)
    and the times' zone named."""
    currency = CURRENCY_SYMBOLS.get(batch.currency, batch.currency)
    if report == "errors":
        return ["Ligne", "Gravité", "Champ", "Motif", "Identifiant", f"Montant lu ({currency})", "Statut"]
    return [
        "Ligne",
        "Type d'identifiant",
        "Identifiant",
        "Nom (fichier)",
        "Nom (Mojaloop)",
        f"Montant ({currency})",
        f"Frais ({currency})",
        "Devise",
        "Code du statut",
        "Libellé du statut",
        "Identifiant de transfert",
        "Référence de transaction",
        "Code d'erreur",
        "Motif de l'erreur",
        "Description reçue",
        f"Terminé le, {zone_label(batch.organisation.timezone)}",
    ]


def _write(rows, delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def csv_header(report: str, batch_id: int, delimiter: str = ";") -> str:
    """The BOM (so Excel reads UTF-8) and the header line of a report."""
    return "\ufeff" + _write([header(report, db.session.get(Batch, batch_id))], delimiter)


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


def lines_page(report: str, batch_id: int, after_line: int) -> tuple[list[list], int | None]:
    """The typed lines of one page after `after_line`, and the next cursor (None at the end)."""
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
        return [], None
    if report == "errors":
        lines = [line for row in rows for line in _error_lines(row, batch.currency)]
    else:
        lines = [_export_line(row, batch.currency) for row in rows]
    return lines, (rows[-1][0] if len(rows) == EXPORT_PAGE else None)


def csv_page(report: str, batch_id: int, after_line: int, delimiter: str = ";") -> tuple[str, int | None]:
    """One page of a report as CSV text: `;` with decimal commas, or `,` with decimal points."""
    batch = db.session.get(Batch, batch_id)
    lines, cursor = lines_page(report, batch_id, after_line)
    decimal_mark = "," if delimiter == ";" else "."
    timezone = batch.organisation.timezone
    return _write(([csv_cell(c, decimal_mark, timezone) for c in line] for line in lines), delimiter), cursor


def report_lines(report: str, batch_id: int, session_scope) -> Iterator[list]:
    """Every typed line of a report, each page read inside `session_scope()` (a short app context)."""
    cursor: int | None = 0
    while cursor is not None:
        with session_scope():
            lines, cursor = lines_page(report, batch_id, cursor)
        yield from lines


def _export_line(row: tuple, currency: str) -> list:
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
        id_type,
        id_value,
        name,
        payee_name,
        Amount(amount, unit_currency),
        Amount(fee, unit_currency),
        row_currency,
        status,
        _STATUS_TEXT.get(status, status),
        transfer_id,
        home_id,
        error_code,
        motif,
        description,
        completed_at if isinstance(completed_at, datetime) else None,
    ]


def _error_lines(row: tuple, currency: str) -> list[list]:
    line, id_value, amount, row_currency, status = row[0], row[2], row[5], row[7], row[8]
    errors, warnings = row[14], row[15]
    amount_cell = Amount(amount, row_currency if row_currency in CURRENCIES else currency)
    label = _STATUS_TEXT.get(status, status)
    problems = [("erreur", e) for e in errors or []] + [("avertissement", w) for w in warnings or []]
    return [[line, kind, p["field"], p["message"], id_value, amount_cell, label] for kind, p in problems]
