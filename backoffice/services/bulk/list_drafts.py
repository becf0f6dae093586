"""Amounts typed for a batch from a list, kept server-side between pages until the batch is made.

A list of 50 000 beneficiaries is never put on one page: the new-batch page shows
PAGE_SIZE entries at a time, and the amounts typed on a page are saved in a draft (one
per list and person, `BeneficiaryAmountDraft`), or uploaded as a CSV of changes
(`identifiant;montant`). Either way a page or a file with one bad amount writes nothing,
and every problem names its line (or entry), its field and the reason. The totals shown
before creating the batch are computed in SQL over the whole list.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.lists import BeneficiaryAmountDraft, BeneficiaryEntry, BeneficiaryList
from backoffice.services import ServiceError, audit
from backoffice.services.beneficiaries import require_gestionnaire, sentence
from backoffice.services.bulk.reading import XLSX, FileRejected, measure
from backoffice.services.money import AmountError, parse_amount
from backoffice.services.parties import normalise_party_id

PAGE_SIZE = 100
MAX_CHANGE_BYTES = 5 * 1024 * 1024
MAX_REPORTED = 50
ID_HEADERS = {
    "identifiant",
    "identifier",
    "id",
    "valeur_id",
    "party_id_value",
    "partyidentifier",
    "telephone",
    "msisdn",
}
AMOUNT_HEADERS = {"montant", "amount", "nouveau_montant"}


@dataclass(frozen=True)
class Problem:
    """One refused value: where (a file line, or an entry's identifier), which field, why."""

    line: int | None
    field: str
    reason: str
    identifier: str = ""
    entry_id: int | None = None


class AmountChangesRejected(ServiceError):
    """Amounts refused as a whole: nothing was saved; `problems` say where and why."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message, field="amounts")
        self.problems = problems


@dataclass(frozen=True)
class DraftSummary:
    """What the batch would be: entries, entries without an amount, total, entries changed."""

    entries: int
    missing: int
    total: int
    changed: int


def draft_amounts(list_id: int, user_id: int, entry_ids: list[int] | None = None) -> dict[int, int]:
    """{entry id: amount} saved by this person for this list (restricted to `entry_ids`)."""
    stmt = select(BeneficiaryAmountDraft.entry_id, BeneficiaryAmountDraft.amount).where(
        BeneficiaryAmountDraft.list_id == list_id, BeneficiaryAmountDraft.user_id == user_id
    )
    if entry_ids is not None:
        stmt = stmt.where(BeneficiaryAmountDraft.entry_id.in_(entry_ids))
    return {entry_id: amount for entry_id, amount in db.session.execute(stmt)}


def entries_page(list_id: int, page: int, per_page: int = PAGE_SIZE):
    """One page of the list's active entries, in the list's order."""
    stmt = (
        select(BeneficiaryEntry)
        .where(BeneficiaryEntry.list_id == list_id, BeneficiaryEntry.active)
        .order_by(BeneficiaryEntry.id)
    )
    return db.paginate(stmt, page=max(1, page), per_page=per_page, error_out=False)


def summary(list_id: int, user_id: int) -> DraftSummary:
    """The batch-to-be over the whole list, in one query: the draft amount, else the default."""
    draft = BeneficiaryAmountDraft
    amount = func.coalesce(draft.amount, BeneficiaryEntry.default_amount)
    row = db.session.execute(
        select(
            func.count(BeneficiaryEntry.id),
            func.count(BeneficiaryEntry.id).filter(amount.is_(None) | (amount <= 0)),
            func.coalesce(func.sum(amount).filter(amount > 0), 0),
            func.count(draft.id),
        )
        .select_from(BeneficiaryEntry)
        .outerjoin(
            draft,
            and_(draft.entry_id == BeneficiaryEntry.id, draft.list_id == list_id, draft.user_id == user_id),
        )
        .where(BeneficiaryEntry.list_id == list_id, BeneficiaryEntry.active)
    ).one()
    return DraftSummary(entries=int(row[0]), missing=int(row[1]), total=int(row[2]), changed=int(row[3]))


def _write(lst: BeneficiaryList, user_id: int, amounts: dict[int, int | None], defaults: dict[int, int | None]) -> int:
    """Save `amounts` ({entry id: amount, or None for "back to the default"}); returns the count changed."""
    if not amounts:
        return 0
    db.session.execute(
        delete(BeneficiaryAmountDraft).where(
            BeneficiaryAmountDraft.list_id == lst.id,
            BeneficiaryAmountDraft.user_id == user_id,
            BeneficiaryAmountDraft.entry_id.in_(list(amounts)),
        )
    )
    now = utcnow()
    rows = [
        {"list_id": lst.id, "user_id": user_id, "entry_id": entry_id, "amount": amount, "updated_at": now}
        for entry_id, amount in amounts.items()
        if amount is not None and amount != defaults.get(entry_id)
    ]
    if rows:
        db.session.execute(BeneficiaryAmountDraft.__table__.insert(), rows)
    return len(rows)


def save_page(actor: User, lst: BeneficiaryList, form_values: dict[str, str]) -> int:
    """The `amount-<entry id>` fields of one page into the draft; all or nothing.

    An empty field goes back to the entry's default amount. Returns the number of entries
    whose amount now differs from their default on that page.
    """
    require_gestionnaire(actor, lst.organisation_id)
    typed = {int(k[7:]): v for k, v in form_values.items() if k.startswith("amount-") and k[7:].isdigit()}
    if not typed:
        return 0
    entries = {
        e.id: e
        for e in db.session.scalars(
            select(BeneficiaryEntry).where(
                BeneficiaryEntry.list_id == lst.id, BeneficiaryEntry.active, BeneficiaryEntry.id.in_(list(typed))
            )
        )
    }
    problems: list[Problem] = []
    amounts: dict[int, int | None] = {}
    for entry_id, text in typed.items():
        entry = entries.get(entry_id)
        if entry is None:
            problems.append(
                Problem(None, "montant", "Bénéficiaire inconnu ou désactivé dans cette liste.", str(entry_id), entry_id)
            )
            continue
        if not (text or "").strip():
            amounts[entry_id] = None
            continue
        try:
            amounts[entry_id] = parse_amount(text, lst.currency)
        except AmountError as exc:
            problems.append(Problem(None, "montant", sentence(str(exc)), entry.party_id_value, entry_id))
    if problems:
        raise AmountChangesRejected(
            "Certains montants sont illisibles : rien n'a été enregistré sur cette page.", problems
        )
    defaults = {e.id: e.default_amount for e in entries.values()}
    _write(lst, actor.id, amounts, defaults)
    changed = sum(1 for i, a in amounts.items() if a is not None and a != defaults.get(i))
    audit.record(actor, "beneficiary_list.amounts_saved", lst, entries=len(amounts), changed=changed)
    return changed


def read_changes(data: bytes, lst: BeneficiaryList, country: str = "") -> tuple[dict[int, int], list[Problem]]:
    """A CSV of changes (`identifiant;montant`, `;` or `,`, a header line) → ({entry id: amount}, problems)."""
    try:
        info = measure(io.BytesIO(data), MAX_CHANGE_BYTES)
    except FileRejected as exc:
        return {}, [Problem(None, "fichier", str(exc))]
    if info.encoding == XLSX:
        return {}, [Problem(None, "fichier", "Un fichier CSV est attendu (identifiant;montant).")]
    text = data.decode(info.encoding)
    sample = text[:4096]
    delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return {}, [Problem(None, "fichier", "Le fichier est vide.")]
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    id_col = next((i for i, n in enumerate(names) if n in ID_HEADERS), None)
    amount_col = next((i for i, n in enumerate(names) if n in AMOUNT_HEADERS), None)
    if id_col is None or amount_col is None:
        return {}, [Problem(1, "en-tête", "La première ligne doit nommer les colonnes « identifiant » et « montant ».")]
    by_value: dict[str, list[BeneficiaryEntry]] = {}
    for entry in db.session.scalars(
        select(BeneficiaryEntry).where(BeneficiaryEntry.list_id == lst.id, BeneficiaryEntry.active)
    ):
        by_value.setdefault(entry.party_id_value, []).append(entry)
    changes: dict[int, int] = {}
    seen: dict[int, int] = {}
    problems: list[Problem] = []
    for line_number, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        value = record[id_col].strip() if id_col < len(record) else ""
        amount_text = record[amount_col].strip() if amount_col < len(record) else ""
        if not value:
            problems.append(Problem(line_number, "identifiant", "Identifiant manquant."))
            continue
        # As typed, or a phone number as the list stores it (with its country code).
        candidates = by_value.get(value) or by_value.get(normalise_party_id("MSISDN", value, country), [])
        if len(candidates) != 1:
            reason = (
                "Aucun bénéficiaire actif de la liste n'a cet identifiant."
                if not candidates
                else "Plusieurs bénéficiaires de la liste ont cet identifiant."
            )
            problems.append(Problem(line_number, "identifiant", reason, value))
            continue
        entry = candidates[0]
        if entry.id in seen:
            problems.append(Problem(line_number, "identifiant", f"Déjà modifié ligne {seen[entry.id]}.", value))
            continue
        try:
            changes[entry.id] = parse_amount(amount_text, lst.currency)
        except AmountError as exc:
            problems.append(Problem(line_number, "montant", sentence(str(exc)), value))
            continue
        seen[entry.id] = line_number
    if not changes and not problems:
        problems.append(Problem(None, "fichier", "Le fichier ne contient aucune modification."))
    return changes, problems


def upload_changes(actor: User, lst: BeneficiaryList, data: bytes, file_name: str = "", country: str = "") -> int:
    """Apply a CSV of changes to the draft; refused whole (AmountChangesRejected) if a line is bad."""
    require_gestionnaire(actor, lst.organisation_id)
    changes, problems = read_changes(data, lst, country)
    if problems:
        count = len(problems)
        raise AmountChangesRejected(
            f"Le fichier contient {count} erreur{'s' if count > 1 else ''} : aucun montant n'a été modifié.",
            problems[:MAX_REPORTED],
        )
    defaults = dict(
        db.session.execute(
            select(BeneficiaryEntry.id, BeneficiaryEntry.default_amount).where(BeneficiaryEntry.id.in_(list(changes)))
        ).all()
    )
    _write(lst, actor.id, dict(changes), defaults)
    audit.record(actor, "beneficiary_list.amounts_uploaded", lst, file_name=file_name, lines=len(changes))
    return len(changes)


def discard(list_id: int, user_id: int) -> None:
    """Forget this person's draft for the list (after the batch is created, or on request)."""
    db.session.execute(
        delete(BeneficiaryAmountDraft).where(
            BeneficiaryAmountDraft.list_id == list_id, BeneficiaryAmountDraft.user_id == user_id
        )
    )
