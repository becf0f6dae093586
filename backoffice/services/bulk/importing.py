"""A payment file becomes a DRAFT batch: each line checked, the rows written in bulk.

The file is read by `bulk.reading` (encoding, header, format) and each line becomes a
payee through the format's entry in `bulk.formats`; `validate_rows` checks it (identifier,
currency, amount, duplicates) and `create_from_upload` writes the rows as they come.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO
from uuid import uuid4

from flask import current_app
from sqlalchemy import insert, select

from backoffice.extensions import db
from backoffice.models import Account, User
from backoffice.models.batches import Batch, BatchRow, BatchStatus, RowStatus
from backoffice.services import ServiceError, audit, parties
from backoffice.services.bulk import guard
from backoffice.services.bulk.approval import check_gestionnaire, record_event
from backoffice.services.bulk.reading import FileRejected, Layout, Records, lines, measure, open_records
from backoffice.services.locale import plural
from backoffice.services.money import CURRENCIES, AmountError, parse_amount
from backoffice.services.search import row_search_text

INSERT_GROUP = 1000


# Checking lines ----------------------------------------------------------------------------


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
    party_id_written: str | None = None  # as written, when a valid number was reformatted
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)

    def error(self, column: str, message: str) -> None:
        self.errors.append({"field": column, "message": message})

    def warn(self, column: str, message: str) -> None:
        self.warnings.append({"field": column, "message": message})


def validate_rows(
    records: Records, layout: Layout, account_currency: str, max_rows: int, country: str = ""
) -> Iterator[CheckedRow]:
    """Check each record as it is read; raises FileRejected past `max_rows` data rows.

    Phone numbers without their country code are read as numbers of `country` (the
    organisation's). The same beneficiary twice in a file is an error: the uploader may
    allow a line explicitly, with a reason, in the draft (`drafts.allow_duplicate`).
    """
    seen_references: dict[str, int] = {}
    seen_beneficiaries: dict[tuple[str, str], int] = {}
    for line_number, record in lines(records, max_rows):
        payee = layout.payee(record, account_currency)
        row = CheckedRow(
            line_number=line_number,
            party_id_type=payee.id_type,
            party_id_value=payee.id_value,
            currency=payee.currency,
            name=payee.name,
            note=payee.note,
            source_reference=payee.reference,
        )
        _check_party(row, layout, country)
        _check_amount(row, payee.amount_text, layout, account_currency)
        if row.source_reference:
            previous = seen_references.get(row.source_reference)
            if previous is not None:
                row.error(
                    layout.header("reference"),
                    f"transferId « {row.source_reference} » en double (déjà utilisé ligne {previous}).",
                )
            else:
                seen_references[row.source_reference] = row.line_number
        if row.party_id_value:
            key = (row.party_id_type, row.party_id_value)
            previous = seen_beneficiaries.get(key)
            if previous is not None:
                row.error(layout.header("id_value"), duplicate_message(previous, row.party_id_type, row.party_id_value))
            else:
                seen_beneficiaries[key] = row.line_number
        yield row


def duplicate_message(previous: int, id_type: str, id_value: str) -> str:
    return f"Même bénéficiaire que la ligne {previous} ({id_type} {id_value})."


def _check_party(row: CheckedRow, layout: Layout, country: str = "") -> None:
    """The identifier's type and value each get their own error, on their own column."""
    problem = parties.type_problem(row.party_id_type)
    if problem:
        row.error(layout.header("id_type"), parties.row_message(problem, row.party_id_type, row.party_id_value))
    checked = parties.check_identifier(row.party_id_type, row.party_id_value, country)
    row.party_id_value = checked.value
    row.party_id_written = checked.written[: parties.MAX_ID_LENGTH] if checked.written else None
    if checked.problem:
        row.error(
            layout.header("id_value"), parties.row_message(checked.problem, row.party_id_type, row.party_id_value)
        )
    if checked.warning:
        row.warn(layout.header("id_value"), checked.warning)
    if checked.problem is parties.PartyProblem.VALUE_TOO_LONG:
        row.party_id_value = row.party_id_value[: parties.MAX_ID_LENGTH]


def _check_amount(row: CheckedRow, amount_text: str, layout: Layout, account_currency: str) -> None:
    parse_currency = row.currency if row.currency in CURRENCIES else account_currency
    if layout.format.column("currency"):
        currency_column = layout.header("currency")
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
        row.amount = parse_amount(amount_text, parse_currency)
    except AmountError as exc:
        message = str(exc)
        row.error(layout.header("amount"), message[:1].upper() + message[1:] + ("" if message.endswith(".") else "."))


# Creation ------------------------------------------------------------------------------


def payer_accounts(organisation_id: int) -> list[Account]:
    """The active payer accounts a batch of this organisation may be paid from."""
    return list(
        db.session.scalars(
            select(Account)
            .where(Account.organisation_id == organisation_id, Account.active.is_(True))
            .order_by(Account.account_id)
        )
    )


def create_from_upload(
    actor: User,
    account_id: int,
    label: str,
    stream: BinaryIO,
    file_name: str,
    payment_period: str | None = None,
    repay_of_id: int | None = None,
) -> Batch:
    """Read, check and store an uploaded file as a DRAFT batch (the caller commits).

    The file is streamed: rows are checked one by one and inserted in groups, and the
    counts and totals are computed on the way. A file refused as a whole raises
    `FileRejected` before anything is written, or leaves the session to be
    rolled back (the caller's transaction covers the batch and all its rows).
    """
    check_gestionnaire(actor)
    account = db.session.get(Account, account_id)
    if account is None or account.organisation_id != actor.organisation_id or not account.active:
        raise ServiceError("Choisissez un compte payeur actif de votre organisation.", field="account_id")
    label = (label or "").strip()
    if not label:
        raise ServiceError("Le libellé du lot est obligatoire.", field="label")
    if account.currency not in CURRENCIES:
        raise ServiceError(f"Devise du compte non prise en charge : {account.currency}.", field="account_id")
    period = guard.parse_period(payment_period)
    config = current_app.config
    info = measure(stream, config["IMPORT_MAX_BYTES"])
    layout, records = open_records(stream, info)

    batch = Batch(
        organisation_id=actor.organisation_id,
        account_id=account.id,
        reference=f"TMP-{uuid4().hex[:24]}",
        label=label[:200],
        status=BatchStatus.DRAFT.value,
        currency=account.currency,
        file_name=(file_name or "")[:255],
        file_sha256=info.sha256,
        file_format=layout.format.code,
        payment_period=period,
        repay_of_id=repay_of_id,
        created_by_id=actor.id,
    )
    db.session.add(batch)
    db.session.flush()
    # The reference derives from the id, so two uploads at the same moment never collide.
    batch.reference = f"LOT-{batch.created_at:%Y%m%d}-{batch.id:04d}"
    db.session.flush()

    rows_total = valid = invalid = warned = 0
    total_amount = 0
    group: list[tuple] = []
    write_group = _row_writer()
    transfer_ids: Iterator[str] = iter(())
    fingerprint = guard.ContentFingerprint()
    country = account.organisation.country
    for row in validate_rows(records, layout, account.currency, config["IMPORT_MAX_ROWS"], country):
        rows_total += 1
        fingerprint.add(row.party_id_type, row.party_id_value, row.amount, row.currency)
        if row.errors:
            invalid += 1
        else:
            valid += 1
            total_amount += row.amount or 0
        if row.warnings:
            warned += 1
        transfer_id = next(transfer_ids, None)
        if transfer_id is None:
            transfer_ids = _uuid4_strings(INSERT_GROUP)
            transfer_id = next(transfer_ids)
        group.append(_row_values(batch, row, transfer_id))
        if len(group) >= INSERT_GROUP:
            write_group(group)
            group = []
    if group:
        write_group(group)
    if rows_total == 0:
        raise FileRejected("Le fichier ne contient aucune ligne de paiement (seulement l'en-tête).")

    batch.row_count = rows_total
    batch.valid_count = valid
    batch.invalid_count = invalid
    batch.warning_count = warned
    batch.total_amount = total_amount
    batch.content_sha256 = fingerprint.hexdigest()
    earlier = earlier_uploads_of_file(batch)
    same_content = [b for b in guard.same_content_batches(batch) if b not in earlier]
    message = (
        f"Fichier « {batch.file_name} » importé : {rows_total} {plural(rows_total, 'ligne', with_count=False)}, "
        f"{valid} {plural(valid, 'valide', with_count=False)}, {invalid} {plural(invalid, 'invalide', with_count=False)}."
    )
    if earlier:
        message += f" Ce fichier a déjà été importé ({', '.join(b.reference for b in earlier[:3])})."
    if same_content:
        message += f" Mêmes lignes que le lot {', '.join(b.reference for b in same_content[:3])}."
    details = {
        "format": layout.format.code,
        "rows": rows_total,
        "valid": valid,
        "invalid": invalid,
        "warnings": warned,
        "total_amount": total_amount,
        "sha256": info.sha256,
        "encoding": info.encoding,
        "same_file_as": [b.reference for b in earlier],
        "same_content_as": [b.reference for b in same_content],
        "payment_period": period,
    }
    record_event(batch, actor, "imported", message, details)
    audit.record(actor, "batch.imported", batch, reference=batch.reference, **details)
    db.session.flush()
    return batch


def create_from_records(
    actor: User,
    account_id: int,
    label: str,
    records: list[dict],
    source_name: str,
    payment_period: str | None = None,
) -> Batch:
    """A DRAFT batch from payment records (the API's JSON lines), through the upload path itself.

    Each record has the payment-list format's fields (`type_id`, `valeur_id`, `montant` in
    minor units, optional `devise` and `nom_complet`); they are written as that format's
    file and read back by `create_from_upload`, so every check, warning and guard of an
    upload applies unchanged. Record i (from 0) becomes line i + 2 (the header is line 1).
    """
    account = db.session.get(Account, account_id)
    currency = account.currency if account is not None else ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["type_id", "valeur_id", "devise", "montant", "nom_complet"])
    for record in records:
        devise = str(record.get("devise") or currency)
        amount = record.get("montant")
        exponent_currency = devise.upper() if devise.upper() in CURRENCIES else currency
        if isinstance(amount, int) and not isinstance(amount, bool) and exponent_currency in CURRENCIES:
            amount_text = _units_text(amount, exponent_currency)
        else:
            amount_text = "" if amount is None else str(amount)
        writer.writerow(
            [
                record.get("type_id") or "",
                record.get("valeur_id") or "",
                devise,
                amount_text,
                record.get("nom_complet") or "",
            ]
        )
    data = io.BytesIO(buffer.getvalue().encode("utf-8"))
    return create_from_upload(actor, account_id, label, data, source_name, payment_period=payment_period)


def _units_text(minor: int, currency: str) -> str:
    """Minor units as the decimal text a file carries (`-5` stays negative, so the file's check refuses it)."""
    exponent = CURRENCIES[currency]
    sign, minor = ("-", -minor) if minor < 0 else ("", minor)
    if exponent == 0:
        return f"{sign}{minor}"
    units, fraction = divmod(minor, 10**exponent)
    return f"{sign}{units}.{fraction:0{exponent}d}"


ROW_COLUMNS = (
    "batch_id",
    "line_number",
    "status",
    "party_id_type",
    "party_id_value",
    "amount",
    "currency",
    "name",
    "note",
    "source_reference",
    "party_id_written",
    "errors",
    "warnings",
    "transfer_id",
    "home_transaction_id",
    "fee",
    "attempts",
    "status_checks",
    "settled",
    "search_text",
)


# Columns that may hold NULL; every other text column is NOT NULL (empty string at most).
NULLABLE_ROW_COLUMNS = ("amount", "party_id_written", "errors", "warnings")


def _row_writer():
    """A function that writes a group of row tuples (ROW_COLUMNS order) in the session's transaction.

    PostgreSQL gets COPY in CSV form (several times faster than multi-row INSERTs for
    100 000 rows); SQLite a plain DB-API executemany. Both skip the ORM's per-row
    bookkeeping; JSON columns arrive already encoded.
    """
    connection = db.session.connection()
    columns = ", ".join(ROW_COLUMNS)
    if connection.dialect.name == "postgresql":
        dbapi_connection = connection.connection.dbapi_connection
        # In COPY's CSV form an unquoted empty field is NULL: FORCE_NOT_NULL keeps empty
        # names and notes as empty strings.
        not_null = ", ".join(c for c in ROW_COLUMNS if c not in NULLABLE_ROW_COLUMNS)
        copy_sql = f"COPY batch_rows ({columns}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({not_null}))"

        def write_copy(group: list[tuple]) -> None:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(group)
            buffer.seek(0)
            with dbapi_connection.cursor() as cursor:
                cursor.copy_expert(copy_sql, buffer)

        return write_copy
    if connection.dialect.name == "sqlite":
        sql = f"INSERT INTO batch_rows ({columns}) VALUES ({', '.join('?' for _ in ROW_COLUMNS)})"
        return lambda group: connection.exec_driver_sql(sql, group)
    statement = insert(BatchRow.__table__)
    json_columns = {"errors", "warnings"}

    def write_insert(group: list[tuple]) -> None:
        connection.execute(
            statement,
            [
                {
                    c: (json.loads(v) if c in json_columns and v is not None else v)
                    for c, v in zip(ROW_COLUMNS, t, strict=True)
                }
                for t in group
            ],
        )

    return write_insert


def _uuid4_strings(count: int) -> Iterator[str]:
    """Random version-4 UUIDs as text, from one urandom call (faster than uuid4() in a loop)."""
    raw = bytearray(os.urandom(16 * count))
    for offset in range(0, 16 * count, 16):
        raw[offset + 6] = (raw[offset + 6] & 0x0F) | 0x40
        raw[offset + 8] = (raw[offset + 8] & 0x3F) | 0x80
        h = raw[offset : offset + 16].hex()
        yield f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _row_values(batch: Batch, row: CheckedRow, transfer_id: str) -> tuple:
    """One row in ROW_COLUMNS order, JSON columns encoded."""
    return (
        batch.id,
        row.line_number,
        RowStatus.INVALID.value if row.errors else RowStatus.PENDING.value,
        row.party_id_type[:20],
        row.party_id_value,
        row.amount,
        row.currency[:3],
        row.name,
        row.note,
        row.source_reference,
        row.party_id_written,
        json.dumps(row.errors, ensure_ascii=False) if row.errors else None,
        json.dumps(row.warnings, ensure_ascii=False) if row.warnings else None,
        transfer_id,
        f"{batch.reference}-{row.line_number}",
        0,
        0,
        0,
        False,
        row_search_text(row.party_id_value, row.name),
    )


def earlier_uploads_of_file(batch: Batch) -> list[Batch]:
    """Other batches of the organisation made from the same file (same SHA-256), older first."""
    return guard.earlier_batches(batch, Batch.file_sha256, batch.file_sha256)
