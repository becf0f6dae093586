"""Reading CSV files as people send them: size, encoding, delimiter, header, then the lines.

A file is read twice, both times in chunks: `measure` checks it (size, SHA-256, binary
content; UTF-8, UTF-16 or Windows-1252, or an .xlsx workbook) and `open_records` recognises
its format from the header (`bulk.formats`) and streams its records (a workbook's first
sheet through openpyxl's read-only mode, into the same checks). The batch import and beneficiary lists
both read files this way; what they check on each line is their own.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO

from backoffice.services import ServiceError
from backoffice.services.bulk.formats import FORMATS, FileFormat, Payee, normalise_header

CHUNK = 64 * 1024
XLSX = "xlsx"  # FileInfo.encoding of an Excel workbook (read with openpyxl, not decoded)
XLSX_MAGIC = b"PK\x03\x04"


class FileRejected(ServiceError):
    """The file as a whole cannot be imported (header, encoding, size, emptiness)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file")


@dataclass
class FileInfo:
    """What the first pass learnt about the file."""

    size: int
    sha256: str
    encoding: str  # "utf-8-sig", "utf-16", "cp1252", or "xlsx" for an Excel workbook


def measure(stream: BinaryIO, max_bytes: int) -> FileInfo:
    """First pass over the raw bytes: size limit, SHA-256, binary check, encoding.

    Reads in chunks so that a 20 MB file never sits in memory; leaves the stream rewound.
    UTF-16 (Excel's "Unicode text") is recognised by its byte order mark; otherwise a file
    that is not valid UTF-8 is read as Windows-1252.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    has_text = False
    size = 0
    first = b""
    stream.seek(0)
    while chunk := stream.read(CHUNK):
        if not first:
            first = chunk[:8]
        size += len(chunk)
        if size > max_bytes:
            raise FileRejected(
                f"Fichier trop volumineux : la limite est de {_human_size(max_bytes)} "
                "(réglage IMPORT_MAX_BYTES). Découpez-le en plusieurs lots."
            )
        digest.update(chunk)
        if first.startswith(XLSX_MAGIC):
            continue  # a zip: checked as a workbook below
        if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            has_text = has_text or bool(chunk.replace(b"\x00", b"").strip(b" \t\r\n\xff\xfe"))
            continue
        if b"\x00" in chunk:
            if first.startswith(b"\xd0\xcf\x11\xe0"):
                raise FileRejected(
                    "Ce fichier est un classeur Excel 97-2003 (.xls) : enregistrez-le au format .xlsx ou CSV "
                    "puis recommencez."
                )
            raise FileRejected(
                "Ce fichier n'est pas un fichier texte CSV (contenu binaire), donc pas un fichier CSV lisible."
            )
        has_text = has_text or bool(chunk.strip())
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
    stream.seek(0)
    if first.startswith(XLSX_MAGIC):
        _check_workbook(stream)
        return FileInfo(size=size, sha256=digest.hexdigest(), encoding=XLSX)
    if not has_text:
        raise FileRejected("Le fichier est vide.")
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
        encoding = "utf-8-sig" if utf8 else "cp1252"
    return FileInfo(size=size, sha256=digest.hexdigest(), encoding=encoding)


def grouped(n: int) -> str:
    """A count with thin spaces between thousands, as French writes it."""
    return f"{n:,}".replace(",", "\u202f")


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} Mo"
    if n >= 1024:
        return f"{n / 1024:g} Ko"
    return f"{n} octets"


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


@dataclass(frozen=True)
class Layout:
    """A recognised header: the format, where each payee field sits, and its name in the file."""

    format: FileFormat
    index: dict[str, int]  # payee field → column position
    headers: dict[str, str]  # payee field → header cell as written in the file

    def header(self, field: str, fallback: str = "id_value") -> str:
        """The file's name for a field's column (the identifier's column when the format has none)."""
        return self.headers.get(field) or self.headers.get(fallback, fallback)

    def payee(self, record: list[str], account_currency: str) -> Payee:
        def cell(field: str) -> str:
            index = self.index.get(field)
            return record[index].strip() if index is not None and index < len(record) else ""

        return self.format.payee(cell, account_currency)


def detect_format(header: list[str]) -> Layout:
    """Recognise the layout from the header, or refuse the file saying what is missing."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = normalise_header(cell)
        if key and key not in positions:
            positions[key] = index

    def found(column) -> int | None:
        return next((positions[k] for k in column.keys if k in positions), None)

    for fmt in FORMATS:
        if all(found(c) is not None for c in fmt.required):
            index = {c.field: i for c in fmt.columns if (i := found(c)) is not None}
            headers = {field: header[i].replace("\ufeff", "").strip() for field, i in index.items()}
            return Layout(fmt, index, headers)
    # The closest layout names what is missing; otherwise list what we accept.
    best = max(FORMATS, key=lambda f: sum(found(c) is not None for c in f.required))
    if sum(found(c) is not None for c in best.required) >= 2:
        missing = ", ".join(c.header for c in best.required if found(c) is None)
        raise FileRejected(f"En-tête incomplet pour le format {best.label} : colonne(s) manquante(s) {missing}.")
    accepted = " ; ".join(f.label for f in FORMATS)
    names = ", ".join(c.strip() for c in header if c.strip()) or "aucune"
    raise FileRejected(f"En-tête non reconnu (colonnes trouvées : {names}). Formats acceptés : {accepted}.")


class Records:
    """The CSV reader with the file's physical line numbers (blank lines above the header count)."""

    def __init__(self, reader, offset: int) -> None:
        self.reader = reader
        self.offset = offset

    def __iter__(self):
        return iter(self.reader)

    @property
    def line_num(self) -> int:
        return self.reader.line_num + self.offset


def _check_workbook(stream: BinaryIO) -> None:
    """A zip that is an Excel workbook (.xlsx), or a clear refusal."""
    try:
        with zipfile.ZipFile(stream) as archive:
            if "xl/workbook.xml" not in archive.namelist():
                raise zipfile.BadZipFile("not a workbook")
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRejected(
            "Ce classeur Excel est illisible : enregistrez-le à nouveau au format .xlsx ou CSV puis recommencez."
        ) from exc
    finally:
        stream.seek(0)


def _cell_text(value) -> str:
    """A spreadsheet cell as the CSV reader would have read it (whole numbers without ".0")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class _SheetReader:
    """The first sheet's rows as lists of text, with a `line_num` like csv.reader's."""

    def __init__(self, rows) -> None:
        self.rows = rows
        self.line_num = 0

    def __iter__(self):
        return self

    def __next__(self) -> list[str]:
        values = next(self.rows)
        self.line_num += 1
        return [_cell_text(v) for v in values]


def _open_sheet(stream: BinaryIO) -> tuple[Layout, Records]:
    """An .xlsx workbook read with openpyxl in read-only (streaming) mode, first sheet only."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
        raise FileRejected(
            "Ce classeur Excel est illisible : enregistrez-le à nouveau au format .xlsx ou CSV puis recommencez."
        ) from exc
    sheet = workbook.worksheets[0] if workbook.worksheets else None
    if sheet is None:
        raise FileRejected("Le classeur ne contient aucune feuille.")
    reader = _SheetReader(sheet.iter_rows(values_only=True))
    for header in reader:
        if any(cell.strip() for cell in header):
            return detect_format(header), Records(reader, 0)
    raise FileRejected("Le fichier est vide.")


def open_records(stream: BinaryIO, info: FileInfo) -> tuple[Layout, Records]:
    """Second pass: decode, read the header, recognise the format; returns a record reader."""
    if info.encoding == XLSX:
        return _open_sheet(stream)
    text = io.TextIOWrapper(stream, encoding=info.encoding, errors="replace", newline="")
    header_line = ""
    blank_lines = -1
    while not header_line.strip():
        header_line = text.readline()
        blank_lines += 1
        if not header_line:
            raise FileRejected("Le fichier est vide.")
    reader = csv.reader(_chain_first(header_line, text), delimiter=_delimiter(header_line))
    try:
        header = next(reader)
    except csv.Error as exc:  # a header line of megabytes, or a damaged one: a 4xx, never a 500
        raise FileRejected("En-tête illisible ou trop long : la première ligne doit nommer les colonnes.") from exc
    return detect_format(header), Records(reader, blank_lines)


def _chain_first(first: str, rest: io.TextIOWrapper) -> Iterator[str]:
    yield first
    yield from rest


def lines(records: Records, max_rows: int) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, record) for each non-blank record; FileRejected past `max_rows`."""
    count = 0
    # A record's line is where it starts (a quoted field may span several lines).
    previous_end = records.line_num
    for record in _guarded(records):
        start_line, previous_end = previous_end + 1, records.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank lines, trailing separators
        count += 1
        if count > max_rows:
            raise FileRejected(
                f"Trop de lignes : la limite est de {grouped(max_rows)} lignes par lot "
                "(réglage IMPORT_MAX_ROWS). Découpez le fichier en plusieurs lots."
            )
        yield start_line, record


def _guarded(records: Records) -> Iterator[list[str]]:
    """The records, with a damaged one (a field too long, a stray quote) refusing the file clearly."""
    iterator = iter(records)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRejected(
                f"Ligne {records.line_num} illisible ({exc}) : vérifiez les guillemets et les séparateurs."
            ) from exc
        yield record
