"""Reading payment files as people send them: format detection, streaming parse, row checks.

A file is read twice, both times in chunks: a first pass measures it (size, SHA-256,
binary content, UTF-8 or Windows-1252) and a second pass streams the CSV records through
`validate_rows`, which yields one checked row at a time. Nothing here touches the database:
`services.batches.create_from_upload` writes the rows in bulk as they come.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from backoffice.models.accounts import PARTY_ID_TYPES
from backoffice.services import ServiceError
from backoffice.services.money import CURRENCIES, AmountError, parse_amount

CHUNK = 64 * 1024
MSISDN = re.compile(r"^\+?\d{8,15}$")
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 200


class FileRejected(ServiceError):
    """The file as a whole cannot be imported (header, encoding, size, emptiness)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file")


@dataclass(frozen=True)
class FileFormat:
    """One accepted layout: its required and optional columns (normalised names)."""

    code: str
    label: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


# Checked in this order: the most specific layout first.
FORMATS = (
    FileFormat(
        "standard",
        "standard (transferId, amount, currency, partyIdType, partyIdentifier)",
        ("transferid", "amount", "currency", "partyidtype", "partyidentifier"),
    ),
    FileFormat(
        "payment_list",
        "liste de paiement (type_id, valeur_id, devise, montant[, nom_complet])",
        ("typeid", "valeurid", "devise", "montant"),
        ("nomcomplet",),
    ),
    FileFormat(
        "accounts",
        "comptes (name, amount, accountNumber)",
        ("name", "amount", "accountnumber"),
    ),
    FileFormat(
        "recipients",
        "destinataires (phone_number, amount[, motive])",
        ("phonenumber", "amount"),
        ("motive",),
    ),
)
FORMAT_LABELS = {f.code: f.label for f in FORMATS}


@dataclass
class FileInfo:
    """What the first pass learnt about the file."""

    size: int
    sha256: str
    encoding: str  # "utf-8-sig" or "cp1252"


@dataclass
class CheckedRow:
    """One record of the file after the checks; errors make it INVALID."""

    line_number: int
    party_id_type: str = ""
    party_id_value: str = ""
    amount: int | None = None
    currency: str = ""
    name: str = ""
    note: str = ""
    source_reference: str = ""
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)

    def error(self, column: str, message: str) -> None:
        self.errors.append({"field": column, "message": message})

    def warn(self, column: str, message: str) -> None:
        self.warnings.append({"field": column, "message": message})


def _normalise(name: str) -> str:
    """Header cell → comparison key: case, spaces, underscores and dashes do not matter."""
    return re.sub(r"[\s_\-]", "", name.replace("\ufeff", "").strip().lower())


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
        if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            has_text = has_text or bool(chunk.replace(b"\x00", b"").strip(b" \t\r\n\xff\xfe"))
            continue
        if b"\x00" in chunk:
            if first.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
                raise FileRejected("Ce fichier est un classeur Excel : enregistrez-le au format CSV puis recommencez.")
            raise FileRejected("Ce fichier n'est pas un fichier texte CSV (contenu binaire).")
        has_text = has_text or bool(chunk.strip())
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
    stream.seek(0)
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


def _grouped(n: int) -> str:
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


def detect_format(header: list[str]) -> tuple[FileFormat, dict[str, int], dict[str, str]]:
    """Recognise the layout from the header; returns it, column positions and display names."""
    positions: dict[str, int] = {}
    display: dict[str, str] = {}
    for index, cell in enumerate(header):
        key = _normalise(cell)
        if key and key not in positions:
            positions[key] = index
            display[key] = cell.replace("\ufeff", "").strip()
    for fmt in FORMATS:
        if all(col in positions for col in fmt.required):
            return fmt, positions, display
    # The closest layout names what is missing; otherwise list what we accept.
    best = max(FORMATS, key=lambda f: sum(col in positions for col in f.required))
    matched = sum(col in positions for col in best.required)
    accepted = " ; ".join(f.label for f in FORMATS)
    if matched >= 2:
        missing = ", ".join(col for col in _display_names(best) if _normalise(col) not in positions)
        raise FileRejected(f"En-tête incomplet pour le format {best.label} : colonne(s) manquante(s) {missing}.")
    found = ", ".join(c.strip() for c in header if c.strip()) or "aucune"
    raise FileRejected(f"En-tête non reconnu (colonnes trouvées : {found}). Formats acceptés : {accepted}.")


def _display_names(fmt: FileFormat) -> list[str]:
    """Required column names as the format documents them (for messages)."""
    inside = fmt.label[fmt.label.index("(") + 1 : fmt.label.index(")")]
    names = [n.strip().strip("[]") for n in inside.replace("[", ",").split(",")]
    return [n for n in names if n and _normalise(n) in fmt.required]


def open_records(stream: BinaryIO, info: FileInfo) -> tuple[FileFormat, dict[str, int], dict[str, str], _Records]:
    """Second pass: decode, read the header, recognise the format; returns a record reader."""
    text = io.TextIOWrapper(stream, encoding=info.encoding, errors="replace", newline="")
    header_line = ""
    blank_lines = -1
    while not header_line.strip():
        header_line = text.readline()
        blank_lines += 1
        if not header_line:
            raise FileRejected("Le fichier est vide.")
    reader = csv.reader(_chain_first(header_line, text), delimiter=_delimiter(header_line))
    header = next(reader)
    fmt, positions, display = detect_format(header)
    return fmt, positions, display, _Records(reader, blank_lines)


class _Records:
    """The CSV reader with the file's physical line numbers (blank lines above the header count)."""

    def __init__(self, reader, offset: int) -> None:
        self.reader = reader
        self.offset = offset

    def __iter__(self):
        return iter(self.reader)

    @property
    def line_num(self) -> int:
        return self.reader.line_num + self.offset


def _chain_first(first: str, rest: io.TextIOWrapper) -> Iterator[str]:
    yield first
    yield from rest


def validate_rows(
    reader: _Records,
    fmt: FileFormat,
    positions: dict[str, int],
    display: dict[str, str],
    account_currency: str,
    max_rows: int,
) -> Iterator[CheckedRow]:
    """Check each record as it is read; raises FileRejected past `max_rows` data rows."""
    seen_references: dict[str, int] = {}
    seen_beneficiaries: dict[tuple[str, str], int] = {}
    count = 0
    # A record's line is where it starts (a quoted field may span several lines).
    previous_end = reader.line_num
    for record in _guarded(reader):
        start_line, previous_end = previous_end + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank lines, trailing separators
        count += 1
        if count > max_rows:
            raise FileRejected(
                f"Trop de lignes : la limite est de {_grouped(max_rows)} lignes par lot "
                "(réglage IMPORT_MAX_ROWS). Découpez le fichier en plusieurs lots."
            )

        def cell(key: str, rec=record) -> str:
            index = positions.get(key)
            return rec[index].strip() if index is not None and index < len(rec) else ""

        row = CheckedRow(line_number=start_line)
        _read_fields(row, fmt, cell, account_currency)
        _check_party(row, display, fmt)
        _check_amount(row, cell, display, fmt, account_currency)
        if fmt.code == "standard" and row.source_reference:
            previous = seen_references.get(row.source_reference)
            if previous is not None:
                row.error(
                    display["transferid"],
                    f"transferId « {row.source_reference} » en double (déjà utilisé ligne {previous}).",
                )
            else:
                seen_references[row.source_reference] = row.line_number
        if row.party_id_value:
            key = (row.party_id_type, row.party_id_value)
            previous = seen_beneficiaries.get(key)
            if previous is not None:
                row.warn(
                    _id_column(display, fmt),
                    f"Même bénéficiaire que la ligne {previous} ({row.party_id_type} {row.party_id_value}).",
                )
            else:
                seen_beneficiaries[key] = row.line_number
        yield row


def _guarded(reader: _Records) -> Iterator[list[str]]:
    """The records, with a damaged one (a field too long, a stray quote) refusing the file clearly."""
    iterator = iter(reader)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRejected(
                f"Ligne {reader.line_num} illisible ({exc}) : vérifiez les guillemets et les séparateurs."
            ) from exc
        yield record


def _read_fields(row: CheckedRow, fmt: FileFormat, cell, account_currency: str) -> None:
    if fmt.code == "standard":
        row.source_reference = cell("transferid")[:MAX_ID_LENGTH]
        row.party_id_type = cell("partyidtype").upper()
        row.party_id_value = cell("partyidentifier")
        row.currency = cell("currency").upper()
    elif fmt.code == "payment_list":
        row.party_id_type = cell("typeid").upper()
        row.party_id_value = cell("valeurid")
        row.currency = cell("devise").upper()
        row.name = cell("nomcomplet")[:MAX_TEXT_LENGTH]
    elif fmt.code == "recipients":
        row.party_id_type = "MSISDN"
        row.party_id_value = cell("phonenumber")
        row.currency = account_currency
        row.note = cell("motive")[:MAX_TEXT_LENGTH]
    else:  # accounts
        row.party_id_type = "ACCOUNT_ID"
        row.party_id_value = cell("accountnumber")
        row.currency = account_currency
        row.name = cell("name")[:MAX_TEXT_LENGTH]


def _id_column(display: dict[str, str], fmt: FileFormat) -> str:
    key = {
        "standard": "partyidentifier",
        "payment_list": "valeurid",
        "recipients": "phonenumber",
        "accounts": "accountnumber",
    }[fmt.code]
    return display.get(key, key)


def _check_party(row: CheckedRow, display: dict[str, str], fmt: FileFormat) -> None:
    id_column = _id_column(display, fmt)
    type_column = display.get({"standard": "partyidtype", "payment_list": "typeid"}.get(fmt.code, ""), id_column)
    if not row.party_id_type:
        row.error(type_column, "Type d'identifiant manquant.")
    elif row.party_id_type not in PARTY_ID_TYPES:
        row.error(
            type_column,
            f"Type d'identifiant « {row.party_id_type[:40]} » inconnu de Mojaloop "
            f"(attendu : {', '.join(PARTY_ID_TYPES)}).",
        )
    if row.party_id_type == "MSISDN":
        row.party_id_value = re.sub(r"[\s.\-]", "", row.party_id_value)
    if not row.party_id_value:
        row.error(id_column, "Identifiant du bénéficiaire manquant.")
    elif len(row.party_id_value) > MAX_ID_LENGTH:
        row.error(id_column, f"Identifiant trop long (plus de {MAX_ID_LENGTH} caractères).")
        row.party_id_value = row.party_id_value[:MAX_ID_LENGTH]
    elif row.party_id_type == "MSISDN" and not MSISDN.match(row.party_id_value):
        row.error(
            id_column,
            f"Numéro de téléphone « {row.party_id_value[:40]} » invalide : "
            "8 à 15 chiffres, éventuellement précédés de +.",
        )


def _check_amount(row: CheckedRow, cell, display: dict[str, str], fmt: FileFormat, account_currency: str) -> None:
    amount_key = "montant" if fmt.code == "payment_list" else "amount"
    amount_column = display.get(amount_key, amount_key)
    parse_currency = row.currency if row.currency in CURRENCIES else account_currency
    if fmt.code in ("standard", "payment_list"):
        currency_column = display["currency" if fmt.code == "standard" else "devise"]
        if not row.currency:
            row.error(currency_column, "Devise manquante.")
        elif row.currency != account_currency:
            known = "" if row.currency in CURRENCIES else " (devise non prise en charge)"
            row.error(
                currency_column,
                f"Devise {row.currency[:8]}{known} différente de celle du compte payeur ({account_currency}).",
            )
            row.currency = row.currency[:3]
    try:
        row.amount = parse_amount(cell(amount_key), parse_currency)
    except AmountError as exc:
        message = str(exc)
        row.error(amount_column, message[:1].upper() + message[1:] + ("" if message.endswith(".") else "."))
