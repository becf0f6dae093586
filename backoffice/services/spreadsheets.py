"""CSV exports that open safely in Excel: no cell is ever run as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

# A cell starting with one of these is a formula in Excel, fullwidth ＝＋－＠ included.
FORMULA_CHARACTERS = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"


def safe_cell(value) -> str:
    """Text that a spreadsheet will not run as a formula (a leading quote defuses it)."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text and text[0] in FORMULA_CHARACTERS else text


def csv_bytes(rows: Iterable[Iterable], separator: str = ";") -> bytes:
    """UTF-8 with BOM (Excel), CRLF, every cell formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
