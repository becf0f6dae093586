"""Beneficiary lists: named, reusable lists of an organisation's beneficiaries, their history,
and the records a new batch is built from.

Every change writes a BeneficiaryListEvent (the list's history) and an audit event; the
caller commits. An import is all or nothing: a file with one bad line creates nothing.
"""

from __future__ import annotations

import csv
import importlib
import io
import re
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select

from backoffice.extensions import db
from backoffice.models import Account, User
from backoffice.models.accounts import PARTY_ID_TYPES
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchRow, RowStatus
from backoffice.models.lists import BeneficiaryEntry, BeneficiaryList, BeneficiaryListEvent
from backoffice.services import PermissionDenied, ServiceError, audit
from backoffice.services.money import CURRENCIES, AmountError, format_amount, parse_amount

MSISDN = re.compile(r"^\+?[0-9]{6,15}$")
MAX_REPORTED_ERRORS = 20

# Header (lower-cased) → format; each format maps its columns onto an entry's fields.
FORMATS: dict[str, dict[str, str]] = {
    "standard": {
        "partyidtype": "party_id_type",
        "partyidentifier": "party_id_value",
        "amount": "amount",
        "currency": "currency",
    },
    "payment_list": {
        "type_id": "party_id_type",
        "valeur_id": "party_id_value",
        "montant": "amount",
        "devise": "currency",
        "nom_complet": "name",
    },
    "recipients": {"phone_number": "party_id_value", "amount": "amount", "motive": "note"},
    "accounts": {"accountnumber": "party_id_value", "amount": "amount", "name": "name"},
}
REQUIRED_COLUMNS = {
    "standard": {"transferid", "amount", "currency", "partyidtype", "partyidentifier"},
    "payment_list": {"type_id", "valeur_id", "devise", "montant"},
    "recipients": {"phone_number", "amount"},
    "accounts": {"name", "amount", "accountnumber"},
}
FIXED_ID_TYPE = {"recipients": "MSISDN", "accounts": "ACCOUNT_ID"}


@dataclass
class ParsedFile:
    format: str
    entries: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# Rules ------------------------------------------------------------------------------------


def _require_gestionnaire(actor: User, organisation_id: int) -> None:
    if not actor.is_gestionnaire or actor.organisation_id != organisation_id:
        raise PermissionDenied("Seul un gestionnaire de l'organisation peut modifier ses listes.")


def _check_party(party_id_type: str, party_id_value: str) -> str | None:
    """The reason an identifier is refused, or None."""
    if party_id_type not in PARTY_ID_TYPES:
        return f"type d'identifiant inconnu « {party_id_type} » (attendu : {', '.join(PARTY_ID_TYPES)})"
    if not party_id_value:
        return "identifiant manquant"
    if len(party_id_value) > 128:
        return "identifiant trop long (128 caractères au plus)"
    if party_id_type == "MSISDN" and not MSISDN.match(party_id_value):
        return f"numéro de téléphone invalide « {party_id_value} »"
    return None


def _sentence(text: str) -> str:
    """A service message as a sentence: capital first letter (only), final period."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _amount(text: str | None, currency: str) -> int | None:
    """An optional default amount typed by a person (None when empty)."""
    if text is None or not str(text).strip():
        return None
    return parse_amount(str(text), currency)


def _event(actor: User | None, lst: BeneficiaryList, action: str, message: str, entry=None, **details: Any) -> None:
    db.session.add(
        BeneficiaryListEvent(
            list_id=lst.id,
            entry_id=entry.id if entry is not None else None,
            user_id=actor.id if actor is not None else None,
            action=action,
            message=message,
            details=details or None,
        )
    )
    audit.record(actor, f"beneficiary_list.{action}", lst, entry_id=entry.id if entry is not None else None, **details)
    lst.updated_at = utcnow()


def _new_list(actor: User, name: str, currency: str, description: str) -> BeneficiaryList:
    _require_gestionnaire(actor, actor.organisation_id)
    name = (name or "").strip()
    if not name:
        raise ServiceError("Le nom de la liste est obligatoire.", field="name")
    if currency not in CURRENCIES:
        raise ServiceError("Devise non prise en charge.", field="currency")
    exists = db.session.scalar(
        select(BeneficiaryList.id).where(
            BeneficiaryList.organisation_id == actor.organisation_id, func.lower(BeneficiaryList.name) == name.lower()
        )
    )
    if exists:
        raise ServiceError("Une liste porte déjà ce nom dans votre organisation.", field="name")
    lst = BeneficiaryList(
        organisation_id=actor.organisation_id,
        name=name[:200],
        currency=currency,
        description=(description or "").strip()[:500],
        created_by_id=actor.id,
    )
    db.session.add(lst)
    db.session.flush()
    return lst


def _insert_entries(lst: BeneficiaryList, entries: list[dict]) -> None:
    if entries:
        db.session.execute(
            BeneficiaryEntry.__table__.insert(),
            [
                {
                    "list_id": lst.id,
                    "party_id_type": e["party_id_type"],
                    "party_id_value": e["party_id_value"],
                    "name": (e.get("name") or "")[:200],
                    "default_amount": e.get("amount"),
                    "note": (e.get("note") or "")[:200],
                    "active": True,
                    "created_at": utcnow(),
                }
                for e in entries
            ],
        )


def create_list(actor: User, name: str, currency: str, description: str = "") -> BeneficiaryList:
    """An empty list; entries are added one by one."""
    lst = _new_list(actor, name, currency, description)
    _event(actor, lst, "created", "Liste créée (vide).", name=lst.name, currency=currency)
    return lst


def create_list_from_file(
    actor: User, name: str, currency: str, description: str, data: bytes, file_name: str = ""
) -> BeneficiaryList:
    """A list filled from a CSV in one of the bulk upload formats; refused whole if a line is bad."""
    parsed = parse_beneficiary_file(data, currency)
    if parsed.errors:
        shown = parsed.errors[:MAX_REPORTED_ERRORS]
        more = len(parsed.errors) - len(shown)
        message = "Le fichier contient des erreurs, aucune liste n'a été créée : " + " ; ".join(shown)
        if more:
            message += f" ; et {more} autre(s) erreur(s)."
        raise ServiceError(message, field="file")
    if not parsed.entries:
        raise ServiceError("Le fichier ne contient aucun bénéficiaire.", field="file")
    lst = _new_list(actor, name, currency, description)
    _insert_entries(lst, parsed.entries)
    _event(
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
        if (id_type, id_value) in seen or _check_party(id_type, id_value):
            continue
        seen.add((id_type, id_value))
        entries.append(
            {"party_id_type": id_type, "party_id_value": id_value, "name": row_name, "amount": amount, "note": note}
        )
    if not entries:
        raise ServiceError("Ce lot ne contient aucune ligne valide.", field="batch_id")
    lst = _new_list(actor, name, batch.currency, description)
    _insert_entries(lst, entries)
    _event(
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


def add_entry(
    actor: User,
    lst: BeneficiaryList,
    *,
    party_id_type: str,
    party_id_value: str,
    name: str = "",
    amount_text: str | None = None,
    note: str = "",
) -> BeneficiaryEntry:
    _require_gestionnaire(actor, lst.organisation_id)
    party_id_value, amount = _checked_entry(lst, party_id_type, party_id_value, amount_text)
    entry = BeneficiaryEntry(
        list_id=lst.id,
        party_id_type=party_id_type,
        party_id_value=party_id_value,
        name=(name or "").strip()[:200],
        default_amount=amount,
        note=(note or "").strip()[:200],
    )
    db.session.add(entry)
    db.session.flush()
    _event(
        actor,
        lst,
        "entry_added",
        f"Bénéficiaire ajouté : {party_id_type} {party_id_value}" + (f" ({entry.name})" if entry.name else "") + ".",
        entry,
        party=f"{party_id_type} {party_id_value}",
        default_amount=amount,
    )
    return entry


def _checked_entry(
    lst: BeneficiaryList,
    party_id_type: str,
    party_id_value: str,
    amount_text: str | None,
    editing: BeneficiaryEntry | None = None,
) -> tuple[str, int | None]:
    """The identifier (stripped) and default amount of an entry to add or edit, or a field error."""
    party_id_value = (party_id_value or "").strip()
    problem = _check_party(party_id_type, party_id_value)
    if problem:
        raise ServiceError(_sentence(problem), field="party_id_value")
    try:
        amount = _amount(amount_text, lst.currency)
    except AmountError as exc:
        raise ServiceError(_sentence(str(exc)), field="default_amount") from exc
    other = _find_entry(lst.id, party_id_type, party_id_value)
    if other is not None and (editing is None or other.id != editing.id):
        raise ServiceError("Ce bénéficiaire est déjà dans la liste.", field="party_id_value")
    return party_id_value, amount


def _find_entry(list_id: int, party_id_type: str, party_id_value: str) -> BeneficiaryEntry | None:
    return db.session.scalar(
        select(BeneficiaryEntry).where(
            BeneficiaryEntry.list_id == list_id,
            BeneficiaryEntry.party_id_type == party_id_type,
            BeneficiaryEntry.party_id_value == party_id_value,
        )
    )


def update_entry(
    actor: User,
    lst: BeneficiaryList,
    entry: BeneficiaryEntry,
    *,
    party_id_type: str,
    party_id_value: str,
    name: str = "",
    amount_text: str | None = None,
    note: str = "",
    active: bool = True,
) -> dict[str, tuple]:
    """Change an entry; returns (and records) what changed, old → new."""
    _require_gestionnaire(actor, lst.organisation_id)
    if entry.list_id != lst.id:
        raise ServiceError("Bénéficiaire introuvable dans cette liste.")
    party_id_value, amount = _checked_entry(lst, party_id_type, party_id_value, amount_text, editing=entry)
    new = {
        "party_id_type": party_id_type,
        "party_id_value": party_id_value,
        "name": (name or "").strip()[:200],
        "default_amount": amount,
        "note": (note or "").strip()[:200],
        "active": bool(active),
    }
    changes = {k: (getattr(entry, k), v) for k, v in new.items() if getattr(entry, k) != v}
    if not changes:
        return {}
    for key, (_old, value) in changes.items():
        setattr(entry, key, value)
    entry.updated_at = utcnow()
    _event(
        actor,
        lst,
        "entry_updated",
        f"Bénéficiaire {entry.party_id_type} {entry.party_id_value} modifié : "
        + ", ".join(_describe_change(k, old, v, lst.currency) for k, (old, v) in changes.items())
        + ".",
        entry,
        changes={k: [old, v] for k, (old, v) in changes.items()},
    )
    return changes


_FIELD_LABELS = {
    "party_id_type": "type d'identifiant",
    "party_id_value": "identifiant",
    "name": "nom",
    "default_amount": "montant",
    "note": "note",
    "active": "état",
}


def _describe_change(key: str, old: Any, new: Any, currency: str) -> str:
    if key == "default_amount":
        old, new = format_amount(old, currency), format_amount(new, currency)
    elif key == "active":
        old, new = ("active" if old else "désactivée"), ("active" if new else "désactivée")
    return f"{_FIELD_LABELS[key]} « {old or '—'} » → « {new or '—'} »"


def set_entry_active(actor: User, lst: BeneficiaryList, entry: BeneficiaryEntry, active: bool) -> None:
    """Deactivated entries stay in the list (and its history) but are left out of new batches."""
    _require_gestionnaire(actor, lst.organisation_id)
    if entry.list_id != lst.id:
        raise ServiceError("Bénéficiaire introuvable dans cette liste.")
    if entry.active == active:
        return
    entry.active = active
    entry.updated_at = utcnow()
    verb = "réactivé" if active else "désactivé"
    _event(
        actor,
        lst,
        "entry_activated" if active else "entry_deactivated",
        f"Bénéficiaire {entry.party_id_type} {entry.party_id_value} {verb}.",
        entry,
    )


# Reading ----------------------------------------------------------------------------------


def lists_query(organisation_id: int):
    """The organisation's lists, by name (figures per list: `list_figures`)."""
    return (
        select(BeneficiaryList)
        .where(BeneficiaryList.organisation_id == organisation_id)
        .order_by(BeneficiaryList.name, BeneficiaryList.id)
    )


def list_figures(list_ids: list[int]) -> dict[int, tuple[int, int]]:
    """List id → (active entries, total of their default amounts), in one grouped query."""
    if not list_ids:
        return {}
    rows = db.session.execute(
        select(
            BeneficiaryEntry.list_id,
            func.count(),
            func.coalesce(func.sum(BeneficiaryEntry.default_amount), 0),
        )
        .where(BeneficiaryEntry.list_id.in_(list_ids), BeneficiaryEntry.active)
        .group_by(BeneficiaryEntry.list_id)
    ).all()
    return {list_id: (count, int(total)) for list_id, count, total in rows}


def entries_query(list_id: int, q: str = "", state: str = ""):
    """Entries of a list, searched on identifier, name or note; `state` = active / inactive."""
    stmt = select(BeneficiaryEntry).where(BeneficiaryEntry.list_id == list_id)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(BeneficiaryEntry.party_id_value).like(like),
                func.lower(BeneficiaryEntry.name).like(like),
                func.lower(BeneficiaryEntry.note).like(like),
            )
        )
    if state == "active":
        stmt = stmt.where(BeneficiaryEntry.active)
    elif state == "inactive":
        stmt = stmt.where(~BeneficiaryEntry.active)
    return stmt.order_by(BeneficiaryEntry.name, BeneficiaryEntry.id)


def events_query(list_id: int):
    return (
        select(BeneficiaryListEvent)
        .where(BeneficiaryListEvent.list_id == list_id)
        .order_by(BeneficiaryListEvent.created_at.desc(), BeneficiaryListEvent.id.desc())
    )


def source_batches(organisation_id: int, limit: int = 50) -> list[Batch]:
    """Earlier batches a list can be made from (those with at least one valid row)."""
    return list(
        db.session.scalars(
            select(Batch)
            .where(Batch.organisation_id == organisation_id, Batch.valid_count > 0)
            .order_by(Batch.created_at.desc(), Batch.id.desc())
            .limit(limit)
        )
    )


# New batch from a list ----------------------------------------------------------------------


def active_entries(list_id: int) -> list[BeneficiaryEntry]:
    return list(
        db.session.scalars(
            select(BeneficiaryEntry)
            .where(BeneficiaryEntry.list_id == list_id, BeneficiaryEntry.active)
            .order_by(BeneficiaryEntry.id)  # the order of the file the list came from
        )
    )


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
            errors[entry_id] = _sentence(str(exc))
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
        shown = ", ".join(missing[:10]) + (f" et {len(missing) - 10} autre(s)" if len(missing) > 10 else "")
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
    actor: User, lst: BeneficiaryList, account_id: int, label: str, amounts_override: dict[int, int]
) -> Batch:
    """Build the records and hand them to the bulk area's batch creation (a DRAFT to validate,
    submit and approve like an upload)."""
    _require_gestionnaire(actor, lst.organisation_id)
    account = db.session.get(Account, account_id) if account_id else None
    if account is None or account.organisation_id != lst.organisation_id:
        raise ServiceError("Choisissez le compte payeur.", field="account_id")
    if account.currency != lst.currency:
        raise ServiceError("La devise du compte payeur diffère de celle de la liste.", field="account_id")
    label = (label or "").strip()
    if not label:
        raise ServiceError("Le libellé du lot est obligatoire.", field="label")
    records = build_batch_records(lst.id, amounts_override)
    try:
        batch_service = importlib.import_module("backoffice.services.batches")
    except ModuleNotFoundError:
        batch_service = None
    from_records = getattr(batch_service, "create_batch_from_records", None)
    from_upload = getattr(batch_service, "create_from_upload", None)
    if from_records is not None:
        batch = from_records(actor, account=account, label=label, records=records, source=f"liste « {lst.name} »")
    elif from_upload is not None:
        # The bulk area's own upload path: the same checks, duplicate warnings and approval
        # as a file a person sends, fed with the list written in the payment-list format.
        file_name = f"liste-{lst.id}-{utcnow():%Y%m%d-%H%M%S}.csv"
        batch = from_upload(actor, account.id, label, io.BytesIO(records_to_csv(records)), file_name)
    else:
        raise ServiceError("La création d'un lot depuis une liste n'est pas encore disponible sur cette installation.")
    _event(
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
    """Records as a payment-list file (`type_id,valeur_id,devise,montant,nom_complet`), UTF-8."""
    from backoffice.services.money import to_mojaloop_amount

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["type_id", "valeur_id", "devise", "montant", "nom_complet"])
    for r in records:
        writer.writerow(
            [
                r["party_id_type"],
                r["party_id_value"],
                r["currency"],
                to_mojaloop_amount(r["amount"], r["currency"]),
                r.get("name") or "",
            ]
        )
    return buffer.getvalue().encode("utf-8")


# CSV import (the bulk upload's formats, in a simple way) ------------------------------------


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_beneficiary_file(data: bytes, currency: str) -> ParsedFile:
    """Read a CSV in the standard, payment-list, recipients or accounts format into entries.

    UTF-8 (with or without BOM) or Windows-1252, `,` or `;`, CRLF, quoted fields. Every
    problem is reported with its line number (the header is line 1).
    """
    max_bytes = current_app.config["IMPORT_MAX_BYTES"]
    max_rows = current_app.config["IMPORT_MAX_ROWS"]
    if not data or not data.strip():
        raise ServiceError("Le fichier est vide.", field="file")
    if len(data) > max_bytes:
        raise ServiceError(f"Fichier trop volumineux ({max_bytes // (1024 * 1024)} Mo au plus).", field="file")
    if b"\x00" in data[:4096]:
        raise ServiceError("Ce fichier n'est pas un fichier CSV lisible.", field="file")
    text = _decode(data)
    first_line = text.splitlines()[0] if text else ""
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    fmt = next((name for name, needed in REQUIRED_COLUMNS.items() if needed <= set(header)), None)
    if fmt is None:
        raise ServiceError(
            "En-tête non reconnu. Formats acceptés : « transferId,amount,currency,partyIdType,partyIdentifier », "
            "« type_id,valeur_id,devise,montant[,nom_complet] », « phone_number,amount[,motive] » "
            "ou « name,amount,accountNumber ».",
            field="file",
        )
    columns = {FORMATS[fmt][h]: i for i, h in enumerate(header) if h in FORMATS[fmt]}
    result = ParsedFile(format=fmt)
    seen: dict[tuple[str, str], int] = {}
    for line_number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(result.entries) + len(result.errors) >= max_rows:
            raise ServiceError(f"Trop de lignes ({max_rows} au plus).", field="file")

        def cell(name: str, current_row: list[str] = row) -> str:
            index = columns.get(name)
            return current_row[index].strip() if index is not None and index < len(current_row) else ""

        id_type = FIXED_ID_TYPE.get(fmt) or cell("party_id_type").upper()
        id_value = cell("party_id_value")
        problem = _check_party(id_type, id_value)
        if problem:
            result.errors.append(f"ligne {line_number} : {problem}")
            continue
        row_currency = cell("currency").upper()
        if row_currency and row_currency != currency:
            result.errors.append(
                f"ligne {line_number} : devise {row_currency} différente de celle de la liste ({currency})"
            )
            continue
        try:
            amount = parse_amount(cell("amount"), currency)
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
                "name": cell("name"),
                "amount": amount,
                "note": cell("note"),
            }
        )
    return result


# Demo ---------------------------------------------------------------------------------------

DEMO_LIST = "Pensions mensuelles (démo)"
DEMO_ENTRIES = [
    ("PERSONAL_ID", "8884191054", "Abdou Kpangon", 20_000),
    ("PERSONAL_ID", "0231397586", "Émile Djegui", 15_000),
    ("PERSONAL_ID", "6934235077", "Sylvie Lokossou", 25_000),
    ("MSISDN", "22997123456", "Gildas Houénou", 30_000),
    ("MSISDN", "22996543210", "Blandine Hounsa", 12_500),
]


def seed_demo_list(orgs: dict) -> list[str]:
    """A CNSS beneficiary list for the demo (idempotent; called by services.demo.seed_demo)."""
    org = orgs.get("CNSS")
    if org is None:
        return []
    exists = db.session.scalar(
        select(BeneficiaryList.id).where(BeneficiaryList.organisation_id == org.id, BeneficiaryList.name == DEMO_LIST)
    )
    if exists:
        return []
    lst = BeneficiaryList(
        organisation_id=org.id, name=DEMO_LIST, currency="XOF", description="Données de démonstration"
    )
    db.session.add(lst)
    db.session.flush()
    _insert_entries(
        lst,
        [{"party_id_type": t, "party_id_value": v, "name": n, "amount": a, "note": ""} for t, v, n, a in DEMO_ENTRIES],
    )
    _event(None, lst, "created", f"Liste créée pour la démonstration ({len(DEMO_ENTRIES)} bénéficiaires).")
    return [f"liste de bénéficiaires « {DEMO_LIST} »"]
