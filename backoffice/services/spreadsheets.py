"""CSV exports that open safely in Excel: no cell is ever run as a formula."""

from __future__ import annotations

FORMULA_CHARACTERS = "=+-@\t\r"  # a cell starting with one of these is a formula in Excel


def safe_cell(value) -> str:
    """Text that a spreadsheet will not run as a formula (a leading quote defuses it)."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text and text[0] in FORMULA_CHARACTERS else text
