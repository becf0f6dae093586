"""The CSV layouts a payment file or a beneficiary list may use: one entry per format.

Each format says which header names it accepts for each column and how a line becomes a
payee (id type, id value), an amount, a currency, a name and a note. Adding a format means
adding one entry to FORMATS (and, if useful, a sample for the upload page's help).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 200


def normalise_header(name: str) -> str:
    """Header cell → comparison key: case, spaces, underscores and dashes do not matter."""
    return re.sub(r"[\s_\-]", "", name.replace("\ufeff", "").strip().lower())


@dataclass(frozen=True)
class Column:
    """One column of a format: the payee field it fills and the header names it is known by."""

    field: str  # reference, id_type, id_value, amount, currency, name or note
    header: str  # as the format documents it (messages, upload page)
    required: bool = True
    aliases: tuple[str, ...] = ()  # other header names accepted for the same column

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(normalise_header(h) for h in (self.header, *self.aliases))


@dataclass(frozen=True)
class Payee:
    """What one line of a file says, before any check (texts trimmed, codes upper-cased)."""

    id_type: str
    id_value: str
    amount_text: str
    currency: str
    name: str
    note: str
    reference: str  # the sender's own id of the line (transferId), if the format has one


@dataclass(frozen=True)
class FileFormat:
    """One accepted layout."""

    code: str  # stored on the batch (Batch.file_format)
    name: str  # French, lower case
    columns: tuple[Column, ...]
    id_type: str = ""  # the party id type of every line, when no column gives it
    hint: str = ""  # shown next to the format on the upload page

    @property
    def label(self) -> str:
        """Name and columns, as messages show them: `liste de paiement (type_id, …[, nom_complet])`."""
        return f"{self.name} ({self.header_text(', ')})"

    def header_text(self, separator: str = ",") -> str:
        """The documented header line; optional columns in brackets."""
        required = separator.join(c.header for c in self.columns if c.required)
        return required + "".join(f"[{separator}{c.header}]" for c in self.columns if not c.required)

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    def column(self, field: str) -> Column | None:
        return next((c for c in self.columns if c.field == field), None)

    def payee(self, cell: Callable[[str], str], account_currency: str) -> Payee:
        """A line read through `cell(field)` (empty text for a column the format lacks)."""
        return Payee(
            id_type=self.id_type or cell("id_type").upper(),
            id_value=cell("id_value"),
            amount_text=cell("amount"),
            # Formats without a currency column are paid in the payer account's currency.
            currency=cell("currency").upper() if self.column("currency") else account_currency,
            name=cell("name")[:MAX_TEXT_LENGTH],
            note=cell("note")[:MAX_TEXT_LENGTH],
            reference=cell("reference")[:MAX_ID_LENGTH],
        )


# Recognised in this order: the most specific layout first.
FORMATS: tuple[FileFormat, ...] = (
    FileFormat(
        "standard",
        "standard",
        (
            Column("reference", "transferId"),
            Column("amount", "amount"),
            Column("currency", "currency"),
            Column("id_type", "partyIdType"),
            Column("id_value", "partyIdentifier"),
        ),
    ),
    FileFormat(
        "payment_list",
        "liste de paiement",
        (
            Column("id_type", "type_id"),
            Column("id_value", "valeur_id"),
            Column("currency", "devise"),
            Column("amount", "montant"),
            Column("name", "nom_complet", required=False),
        ),
    ),
    FileFormat(
        "accounts",
        "comptes",
        (Column("name", "name"), Column("amount", "amount"), Column("id_value", "accountNumber")),
        id_type="ACCOUNT_ID",
        hint="ACCOUNT_ID, devise du compte payeur",
    ),
    FileFormat(
        "recipients",
        "destinataires",
        (Column("id_value", "phone_number"), Column("amount", "amount"), Column("note", "motive", required=False)),
        id_type="MSISDN",
        hint="numéros MSISDN, devise du compte payeur",
    ),
)
FORMATS_BY_CODE = {f.code: f for f in FORMATS}


def format_name(code: str) -> str:
    """A batch's stored format code as people read it (the code itself if unknown)."""
    fmt = FORMATS_BY_CODE.get(code)
    return fmt.name if fmt else code
