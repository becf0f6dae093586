"""Beneficiary lists: named, reusable lists of an organisation's beneficiaries and their history.

Every change writes a BeneficiaryListEvent (the list's history) and an audit event; the
caller commits. Lists from a file or a batch, and batches from a list: `bulk.lists`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch
from backoffice.models.lists import BeneficiaryEntry, BeneficiaryList, BeneficiaryListEvent
from backoffice.services import PermissionDenied, ServiceError, audit, search
from backoffice.services.money import CURRENCIES, AmountError, format_amount, parse_amount
from backoffice.services.parties import check_party, normalise_party_id

# Rules ------------------------------------------------------------------------------------


def require_gestionnaire(actor: User, organisation_id: int) -> None:
    if not actor.is_gestionnaire or actor.organisation_id != organisation_id:
        raise PermissionDenied("Seul un gestionnaire de l'organisation peut modifier ses listes.")


def sentence(text: str) -> str:
    """A service message as a sentence: capital first letter (only), final period."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _amount(text: str | None, currency: str) -> int | None:
    """An optional default amount typed by a person (None when empty)."""
    if text is None or not str(text).strip():
        return None
    return parse_amount(str(text), currency)


def record_event(
    actor: User | None, lst: BeneficiaryList, action: str, message: str, entry=None, **details: Any
) -> None:
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


def new_list(actor: User, name: str, currency: str, description: str) -> BeneficiaryList:
    require_gestionnaire(actor, actor.organisation_id)
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


def insert_entries(lst: BeneficiaryList, entries: list[dict]) -> None:
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
    lst = new_list(actor, name, currency, description)
    record_event(actor, lst, "created", "Liste créée (vide).", name=lst.name, currency=currency)
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
    require_gestionnaire(actor, lst.organisation_id)
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
    record_event(
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
    country = lst.organisation.country
    party_id_value = normalise_party_id(party_id_type, party_id_value, country)
    problem = check_party(party_id_type, party_id_value, country)
    if problem:
        raise ServiceError(sentence(problem), field="party_id_value")
    try:
        amount = _amount(amount_text, lst.currency)
    except AmountError as exc:
        raise ServiceError(sentence(str(exc)), field="default_amount") from exc
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
    require_gestionnaire(actor, lst.organisation_id)
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
    record_event(
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
    require_gestionnaire(actor, lst.organisation_id)
    if entry.list_id != lst.id:
        raise ServiceError("Bénéficiaire introuvable dans cette liste.")
    if entry.active == active:
        return
    entry.active = active
    entry.updated_at = utcnow()
    verb = "réactivé" if active else "désactivé"
    record_event(
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
        stmt = stmt.where(
            or_(
                search.matches(BeneficiaryEntry.party_id_value, q),
                search.matches(BeneficiaryEntry.name, q),
                search.matches(BeneficiaryEntry.note, q),
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


# Entries a new batch is made of ----------------------------------------------------------


def active_entries(list_id: int) -> list[BeneficiaryEntry]:
    return list(
        db.session.scalars(
            select(BeneficiaryEntry)
            .where(BeneficiaryEntry.list_id == list_id, BeneficiaryEntry.active)
            .order_by(BeneficiaryEntry.id)  # the order of the file the list came from
        )
    )


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
    """A CNSS beneficiary list for the demo (idempotent)."""
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
    insert_entries(
        lst,
        [{"party_id_type": t, "party_id_value": v, "name": n, "amount": a, "note": ""} for t, v, n, a in DEMO_ENTRIES],
    )
    record_event(None, lst, "created", f"Liste créée pour la démonstration ({len(DEMO_ENTRIES)} bénéficiaires).")
    return [f"liste de bénéficiaires « {DEMO_LIST} »"]
