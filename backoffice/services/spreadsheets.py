"""Exports that open safely in Excel: CSV for French Excel by default, and .xlsx.

No cell is ever run as a formula. Report lines are lists of typed cells: text, integers,
`Amount` (minor units and their currency) and UTC datetimes. `csv_cell` writes one for a
CSV (amounts in the currency's unit with the file's decimal mark, times in the
organisation's zone); `write_xlsx` writes them as numbers with a number format and real
dates, with openpyxl's write-only mode so that 100 000 rows never sit in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from backoffice.services.locale import format_iso_local, zone
from backoffice.services.money import CURRENCIES, plain_decimal

# A cell starting with one of these is a formula in Excel, fullwidth ＝＋－＠ included.
FORMULA_CHARACTERS = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_DATETIME_FORMAT = "dd/mm/yyyy hh:mm:ss"
XLSX_DATE_FORMAT = "dd/mm/yyyy"


@dataclass(frozen=True, slots=True)
class Amount:
    """An amount cell: integer minor units of `currency` (None: unreadable, left empty)."""

    minor: int | None
    currency: str


def safe_cell(value) -> str:
    """Text that a spreadsheet will not run as a formula (a leading quote defuses it)."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text and text[0] in FORMULA_CHARACTERS else text


def csv_cell(value, decimal_mark: str = ",", timezone: str = "UTC") -> str | int:
    """One typed cell as CSV text: amounts in the currency's unit with `decimal_mark`."""
    if isinstance(value, Amount):
        return plain_decimal(value.minor, value.currency, decimal_mark)
    if isinstance(value, datetime):
        return format_iso_local(value, timezone)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return safe_cell(value)


def csv_bytes(rows: Iterable[Iterable], separator: str = ";") -> bytes:
    """UTF-8 with BOM (Excel), CRLF, every cell formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def amount_format(currency: str) -> str:
    """Excel's number format for a currency: `#,##0` (F CFA) or `#,##0.00` (MRU)."""
    exp = CURRENCIES.get(currency, 2)
    return "#,##0" + ("." + "0" * exp if exp else "")


def write_xlsx(target, title: str, header: list[str], lines: Iterable[list], timezone: str = "UTC") -> int:
    """Write one sheet (`title`, a bold frozen header row, then `lines`) to `target` (a path
    or a binary file); returns the number of lines written.

    Write-only mode: each row goes to a temporary file as it is appended, so memory does
    not grow with the number of rows. Amounts become numbers (major units) with the
    currency's format, datetimes real dates in `timezone`, text stays text (a leading `=`
    is not a formula here).
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def header_cell(text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        return cell

    sheet.append([header_cell(h) for h in header])
    scales = {c: Decimal(1).scaleb(-exp) for c, exp in CURRENCIES.items()}
    zone_of = zone(timezone)
    # One styled cell per column and format, reused row after row: a write-only sheet
    # serialises a row as soon as it is appended, and styling a new cell costs more than
    # writing it.
    styled: dict[tuple[int, str], WriteOnlyCell] = {}

    def styled_cell(column: int, number_format: str, value, data_type: str | None = None) -> WriteOnlyCell:
        c = styled.get((column, number_format))
        if c is None:
            c = styled[(column, number_format)] = WriteOnlyCell(sheet)
            if number_format:
                c.number_format = number_format
        c.value = value
        if data_type:
            c.data_type = data_type
        return c

    def cell(column: int, value):
        if value is None or value == "":
            return None
        if isinstance(value, Amount):
            if value.minor is None:
                return None
            # Decimal, not float: 1500,50 MRU stays exactly 1500.50.
            exp = CURRENCIES.get(value.currency, 2)
            number = value.minor if not exp else value.minor * scales.get(value.currency, Decimal("0.01"))
            return styled_cell(column, amount_format(value.currency), number)
        if isinstance(value, datetime):
            local = value.replace(tzinfo=UTC) if value.tzinfo is None else value
            return styled_cell(column, XLSX_DATETIME_FORMAT, local.astimezone(zone_of).replace(tzinfo=None))
        if isinstance(value, date):
            return styled_cell(column, XLSX_DATE_FORMAT, value)
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return value
        text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
        if text.startswith("="):
            return styled_cell(column, "", text, "s")  # openpyxl would store it as a formula
        return text

    count = 0
    for line in lines:
        sheet.append([cell(i, v) for i, v in enumerate(line)])
        count += 1
    workbook.save(target)
    return count
