"""Beneficiary lists meet bulk payments: a list from a file or an earlier batch, a batch from a list.

A list's file is read like a payment file (`bulk.reading`, `bulk.formats`), but a list is
all or nothing: a file with one bad line creates nothing, and every problem is reported
with its line number. A batch from a list goes through the upload path itself.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Account, User
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchRow, RowStatus
from backoffice.models.lists import BeneficiaryList
from backoffice.models.organisations import Organisation
from backoffice.services import ServiceError
from backoffice.services.beneficiaries import (
    active_entries,
    insert_entries,
    new_list,
    record_event,
    require_gestionnaire,
    sentence,
)
from backoffice.services.bulk.formats import FORMATS_BY_CODE
from backoffice.services.bulk.importing import create_from_upload
from backoffice.services.bulk.reading import lines, measure, open_records
from backoffice.services.locale import plural
from backoffice.services.money import AmountError, parse_amount, to_mojaloop_amount
from backoffice.services.parties import check_party, normalise_party_id

MAX_REPORTED_ERRORS = 20


@dataclass
class ParsedFile:
    format: str
    entries: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# Lists from a file or a batch -------------------------------------------------------------


def create_list_from_file(
    actor: User, name: str, currency: str, description: str, data: bytes, file_name: str = ""
) -> BeneficiaryList:
    """A list filled from a CSV in one of the bulk upload formats; refused whole if a line is bad."""
    organisation = db.session.get(Organisation, actor.organisation_id)
    parsed = parse_beneficiary_file(data, currency, organisation.country if organisation else "")
    if parsed.errors:
        shown = parsed.errors[:MAX_REPORTED_ERRORS]
        more = len(parsed.errors) - len(shown)
        message = "Le fichier contient des erreurs, aucune liste n'a été créée : " + " ; ".join(shown)
        if more:
            message += f" ; et {plural(more, 'autre erreur')}."
        raise ServiceError(message, field="file")
    if not parsed.entries:
        raise ServiceError("Le fichier ne contient aucun bénéficiaire.", field="file")
    lst = new_list(actor, name, currency, description)
    insert_entries(lst, parsed.entries)
    record_event(
        actor,
        lst,
        "created",
        f"Liste créée depuis le fichier {file_name or 'CSV'} ({len(parsed.entries)} bénéficiaires).",
        name=lst.name,
        currency=currency,
        source="file",
        file_name=file_name,
        format=parsed.format,
        entries=len(parsed.entries),
    )
    return lst


def create_list_from_batch(actor: User, name: str, description: str, batch_id: int) -> BeneficiaryList:
    """A list from the valid rows of an earlier batch of the organisation (first occurrence kept)."""
    batch = db.session.get(Batch, batch_id) if batch_id else None
    if batch is None or batch.organisation_id != actor.organisation_id:
        raise ServiceError("Lot introuvable.", field="batch_id")
    rows = db.session.execute(
        select(BatchRow.party_id_type, BatchRow.party_id_value, BatchRow.name, BatchRow.amount, BatchRow.note)
        .where(
            BatchRow.batch_id == batch.id, BatchRow.status.notin_((RowStatus.INVALID.value, RowStatus.SKIPPED.value))
        )
        .order_by(BatchRow.line_number)
    ).all()
    seen: set[tuple[str, str]] = set()
    entries = []
    for id_type, id_value, row_name, amount, note in rows:
        if (id_type, id_value) in seen or check_party(id_type, id_value):
            continue
        seen.add((id_type, id_value))
        entries.append(
            {"party_id_type": id_type, "party_id_value": id_value, "name": row_name, "amount": amount, "note": note}
        )
    if not entries:
        raise ServiceError("Ce lot ne contient aucune ligne valide.", field="batch_id")
    lst = new_list(actor, name, batch.currency, description)
    insert_entries(lst, entries)
    record_event(
        actor,
        lst,
        "created",
        f"Liste créée depuis le lot {batch.reference} ({len(entries)} bénéficiaires).",
        name=lst.name,
        currency=batch.currency,
        source="batch",
        batch_id=batch.id,
        batch_reference=batch.reference,
        entries=len(entries),
    )
    return lst


def parse_beneficiary_file(data: bytes, currency: str, country: str = "") -> ParsedFile:
    """Read a CSV in any of the bulk upload formats into entries (refusals: `FileRejected`).

    Read exactly like a payment file: UTF-8 (with or without BOM), UTF-16 or Windows-1252,
    `,`, `;` or tab, the same header matching. Every bad line is reported with its line number.
    """
    config = current_app.config
    stream = io.BytesIO(data)
    layout, records = open_records(stream, measure(stream, config["IMPORT_MAX_BYTES"]))
    result = ParsedFile(format=layout.format.code)
    seen: dict[tuple[str, str], int] = {}
    for line_number, record in lines(records, config["IMPORT_MAX_ROWS"]):
        payee = layout.payee(record, currency)
        id_type = payee.id_type
        id_value = normalise_party_id(id_type, payee.id_value, country)
        problem = check_party(id_type, id_value, country)
        if problem:
            result.errors.append(f"ligne {line_number} : {problem}")
            continue
        if payee.currency and payee.currency != currency:
            result.errors.append(
                f"ligne {line_number} : devise {payee.currency} différente de celle de la liste ({currency})"
            )
            continue
        try:
            amount = parse_amount(payee.amount_text, currency)
        except AmountError as exc:
            result.errors.append(f"ligne {line_number} : {exc}")
            continue
        key = (id_type, id_value)
        if key in seen:
            result.errors.append(
                f"ligne {line_number} : bénéficiaire {id_type} {id_value} déjà présent ligne {seen[key]}"
            )
            continue
        seen[key] = line_number
        result.entries.append(
            {
                "party_id_type": id_type,
                "party_id_value": id_value,
                "name": payee.name,
                "amount": amount,
                "note": payee.note,
            }
        )
    return result


# New batch from a list ----------------------------------------------------------------------


def parse_amount_overrides(form_values: dict[str, str], currency: str) -> tuple[dict[int, int], dict[int, str]]:
    """`amount-<entry id>` fields typed on the page → ({entry id: minor units}, {entry id: error})."""
    amounts: dict[int, int] = {}
    errors: dict[int, str] = {}
    for key, text in form_values.items():
        if not key.startswith("amount-") or not key[7:].isdigit():
            continue
        entry_id = int(key[7:])
        if not (text or "").strip():
            continue
        try:
            amounts[entry_id] = parse_amount(text, currency)
        except AmountError as exc:
            errors[entry_id] = sentence(str(exc))
    return amounts, errors


def build_batch_records(list_id: int, amounts_override: dict[int, int] | None = None) -> list[dict]:
    """The records of a new batch: one per active entry, in the list's currency.

    `amounts_override` maps entry ids to amounts (minor units) typed before creating the
    batch; other entries use their default amount. An entry with neither is refused.
    Records use the bulk import's field names, so the batch goes through the same
    validation and approval as an upload.
    """
    lst = db.session.get(BeneficiaryList, list_id)
    if lst is None:
        raise ServiceError("Liste introuvable.")
    overrides = amounts_override or {}
    records: list[dict] = []
    missing: list[str] = []
    for entry in active_entries(list_id):
        amount = overrides.get(entry.id, entry.default_amount)
        if amount is None or amount <= 0:
            missing.append(f"{entry.party_id_type} {entry.party_id_value}")
            continue
        records.append(
            {
                "party_id_type": entry.party_id_type,
                "party_id_value": entry.party_id_value,
                "amount": int(amount),
                "currency": lst.currency,
                "name": entry.name,
                "note": entry.note,
            }
        )
    if missing:
        shown = ", ".join(missing[:10]) + (f" et {plural(len(missing) - 10, 'autre')}" if len(missing) > 10 else "")
        raise ServiceError(f"Montant manquant pour : {shown}.", field="amounts")
    if not records:
        raise ServiceError("La liste ne contient aucun bénéficiaire actif.", field="amounts")
    return records


def payer_accounts(organisation_id: int, currency: str) -> list[Account]:
    return list(
        db.session.scalars(
            select(Account)
            .where(Account.organisation_id == organisation_id, Account.currency == currency, Account.active)
            .order_by(Account.account_id)
        )
    )


def create_batch_from_list(
    actor: User,
    lst: BeneficiaryList,
    account_id: int,
    label: str,
    amounts_override: dict[int, int],
    payment_period: str | None = None,
) -> Batch:
    """A DRAFT batch of the list's active entries, to submit and approve like an upload.

    Its payment period is the run's month (the current one unless given).
    """
    require_gestionnaire(actor, lst.organisation_id)
    account = db.session.get(Account, account_id) if account_id else None
    if account is None or account.organisation_id != lst.organisation_id:
        raise ServiceError("Choisissez le compte payeur.", field="account_id")
    if account.currency != lst.currency:
        raise ServiceError("La devise du compte payeur diffère de celle de la liste.", field="account_id")
    label = (label or "").strip()
    if not label:
        raise ServiceError("Le libellé du lot est obligatoire.", field="label")
    records = build_batch_records(lst.id, amounts_override)
    # The upload path itself: the same checks, duplicate warnings and approval as a file a
    # person sends, fed with the list written in the payment-list format.
    file_name = f"liste-{lst.id}-{utcnow():%Y%m%d-%H%M%S}.csv"
    batch = create_from_upload(
        actor, account.id, label, io.BytesIO(records_to_csv(records)), file_name, payment_period=payment_period
    )
    record_event(
        actor,
        lst,
        "batch_created",
        f"Lot {batch.reference} créé depuis la liste ({len(records)} bénéficiaires).",
        batch_id=batch.id,
        batch_reference=batch.reference,
        rows=len(records),
        overridden=len(amounts_override),
    )
    return batch


def records_to_csv(records: list[dict]) -> bytes:
    """Records as a payment-list file (its documented header, amounts in units), UTF-8."""
    fmt = FORMATS_BY_CODE["payment_list"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.header for c in fmt.columns])
    for r in records:
        values = {
            "id_type": r["party_id_type"],
            "id_value": r["party_id_value"],
            "currency": r["currency"],
            "amount": to_mojaloop_amount(r["amount"], r["currency"]),
            "name": r.get("name") or "",
        }
        writer.writerow([values[c.field] for c in fmt.columns])
    return buffer.getvalue().encode("utf-8")
