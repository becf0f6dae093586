"""The audit log as sentences: « Koffi Agossou a approuvé le lot LOT-2026-0001 (réservé : 40 000 F CFA) »."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.services.money import CURRENCIES, format_amount

# What the person did, as a verb phrase; the object's name follows.
ACTION_LABELS: dict[str, str] = {
    "auth.login": "s’est connecté·e",
    "auth.login_failed": "a échoué à se connecter",
    "auth.logout": "s’est déconnecté·e",
    "user.created": "a créé l’utilisateur",
    "user.password_changed": "a changé le mot de passe de",
    "user.password_reset": "a réinitialisé le mot de passe de",
    "user.activated": "a réactivé l’utilisateur",
    "user.deactivated": "a désactivé l’utilisateur",
    "user.role_changed": "a changé le rôle de",
    "organisation.created": "a créé l’organisation",
    "organisation.updated": "a modifié l’organisation",
    "organisation.activated": "a réactivé l’organisation",
    "organisation.deactivated": "a désactivé l’organisation",
    "account.created": "a créé le compte payeur",
    "account.topped_up": "a approvisionné le compte payeur",
    "api_client.created": "a créé le client API",
    "api_client.revoked": "a révoqué le client API",
    "provider.created": "a ajouté le fournisseur",
    "provider.updated": "a modifié le fournisseur",
    "provider.activated": "a réactivé le fournisseur",
    "provider.deactivated": "a désactivé le fournisseur",
    "batch.imported": "a importé le lot",
    "batch.submitted": "a soumis pour approbation le lot",
    "batch.approved": "a approuvé le lot",
    "batch.rejected": "a rejeté le lot",
    "batch.cancelled": "a annulé le lot",
    "batch.paused": "a mis en pause le lot",
    "batch.resumed": "a repris le paiement du lot",
    "batch.processing_started": "a commencé le paiement du lot",
    "batch.finished": "a terminé le paiement du lot",
    "batch.row_rechecked": "a revérifié une ligne du lot",
    "batch.row_resolved": "a tranché une ligne à vérifier du lot",
    "beneficiary_list.created": "a créé la liste de bénéficiaires",
    "beneficiary_list.entry_added": "a ajouté un bénéficiaire à la liste",
    "beneficiary_list.entry_updated": "a modifié un bénéficiaire de la liste",
    "beneficiary_list.entry_activated": "a réactivé un bénéficiaire de la liste",
    "beneficiary_list.entry_deactivated": "a désactivé un bénéficiaire de la liste",
    "beneficiary_list.batch_created": "a créé un lot depuis la liste",
    "beneficiary_list.amounts_saved": "a enregistré des montants pour un lot depuis la liste",
    "beneficiary_list.amounts_uploaded": "a déposé un fichier de montants pour un lot depuis la liste",
    "fines.payment_rerun": "a relancé le paiement d’amendes",
    "fines.payment_closed": "a clôturé le paiement d’amendes",
    "auth.password_accepted": "a saisi un mot de passe correct (second facteur attendu)",
    "auth.logout_everywhere": "s’est déconnecté·e de tous les appareils",
    "user.invitation_sent": "a envoyé une invitation à",
    "user.invitation_accepted": "a accepté son invitation :",
    "user.recovery_code_used": "a utilisé un code de secours :",
    "user.second_factor_enrolled": "a activé le second facteur :",
    "user.second_factor_reset": "a réinitialisé le second facteur de",
    "account.top_up_requested": "a demandé l’approvisionnement du compte payeur",
    "account.top_up_refused": "a refusé l’approvisionnement du compte payeur",
    "organisation.approval_rule_changed": "a changé la règle d’approbation de l’organisation",
    "api.batch_created": "a créé par l’API le lot",
    "api_settings.updated": "a modifié les réglages de l’API de",
    "webhook.created": "a enregistré le webhook",
    "webhook.deleted": "a supprimé le webhook",
    "webhook.tested": "a envoyé un test au webhook",
    "webhook.redelivered": "a renvoyé une notification du webhook",
    "batch.approval_recorded": "a donné la première approbation du lot",
    "batch.acknowledged": "a confirmé les alertes du lot",
    "batch.verification_started": "a lancé la vérification des bénéficiaires du lot",
    "batch.verified": "a terminé la vérification des bénéficiaires du lot",
    "batch.processing_cancelled": "a annulé le paiement du lot",
    "batch.repay_created": "a créé le lot de relance des lignes échouées",
    "batch.row_excluded": "a exclu une ligne du lot",
    "batch.duplicate_allowed": "a autorisé un doublon dans le lot",
    "batch.row_edited": "a corrigé une ligne du lot",
    "batch.row_removed": "a retiré une ligne du lot",
}

OBJECT_LABELS: dict[str, str] = {
    "Batch": "Lot",
    "User": "Utilisateur",
    "Organisation": "Organisation",
    "Account": "Compte payeur",
    "ApiClient": "Client API",
    "PayeeProvider": "Fournisseur",
    "BeneficiaryList": "Liste de bénéficiaires",
    "FinePayment": "Paiement d’amendes",
}

DETAIL_LABELS: dict[str, str] = {
    "reference": "référence",
    "reason": "motif",
    "note": "note",
    "name": "nom",
    "old_name": "ancien nom",
    "code": "code",
    "email": "adresse e-mail",
    "role": "rôle",
    "old": "avant",
    "new": "après",
    "is_admin": "administrateur",
    "source": "origine",
    "amount": "montant",
    "reserved": "réservé",
    "still_reserved": "encore réservé",
    "currency": "devise",
    "account_id": "compte",
    "rows": "lignes",
    "entries": "bénéficiaires",
    "changed": "montants modifiés",
    "lines": "lignes du fichier",
    "file_name": "fichier",
    "chunks": "tranches",
    "skipped": "lignes exclues",
    "status": "état",
    "outcome": "issue",
    "line": "ligne",
    "row": "ligne n°",
    "timezone": "fuseau horaire",
    "old_timezone": "ancien fuseau horaire",
    "key_prefix": "préfixe de la clé",
    "fsp_id": "identifiant FSP",
    "resume": "reprise",
    "entry_id": "bénéficiaire n°",
    "party": "bénéficiaire",
    "encoding": "encodage",
    "format": "format",
    "invalid": "lignes invalides",
    "valid": "lignes valides",
    "warnings": "avertissements",
    "lignes": "lignes",
    "payment_period": "période de paiement",
    "total_amount": "montant total",
    "sha256": "empreinte SHA-256",
    "second_factor": "second facteur",
    "scopes": "droits",
    "pending": "lignes en attente",
    "cancelled": "lignes annulées",
    "released": "montant libéré",
    "already_paid": "déjà payées",
    "discordant": "noms discordants",
    "same_content_as": "même contenu que",
    "api_client_id": "client API n°",
    "callback_url": "adresse de rappel",
    "periode": "période",
    "country": "pays",
    "old_country": "ancien pays",
    "url": "adresse",
    "events": "événements",
    "delivery_id": "livraison n°",
}

MONEY_KEYS = {"amount", "reserved", "still_reserved", "total", "total_amount", "paid", "released"}
HIDDEN_KEYS = {"ip"}
VALUE_LABELS: dict[str, str] = {
    "GESTIONNAIRE": "gestionnaire",
    "SUPERVISEUR": "superviseur",
    "COMPLETED": "payé",
    "FAILED": "non payé",
    "PARTIALLY_COMPLETED": "partiellement terminé",
    "seed-demo": "données de démonstration",
    "create-admin": "commande create-admin",
    "True": "oui",
    "False": "non",
}


@dataclass
class AuditObject:
    """How an audited object is named: its reference (LOT-…, an email, a code) and its currency."""

    label: str
    currency: str | None = None


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, f"a effectué l’action « {action} » sur")


def action_name(action: str) -> str:
    """The filter's option for an action: « … a approuvé le lot »."""
    label = ACTION_LABELS.get(action)
    return f"… {label}" if label else action


def object_type_label(object_type: str) -> str:
    return OBJECT_LABELS.get(object_type, object_type)


def name_objects(events: Iterable) -> dict[tuple[str, str], AuditObject]:
    """The names of the objects of a page of events: one query per object type (no N+1)."""
    from backoffice.models import Account, Organisation, User
    from backoffice.models.batches import Batch
    from backoffice.models.fines import ApiClient, FinePayment
    from backoffice.models.lists import BeneficiaryList
    from backoffice.models.providers import PayeeProvider

    wanted: dict[str, set[int]] = defaultdict(set)
    for e in events:
        if e.object_type and str(e.object_id).isdigit():
            wanted[e.object_type].add(int(e.object_id))
    readers = {
        "Batch": lambda ids: ((b.id, AuditObject(b.reference, b.currency)) for b in _load(Batch, ids)),
        "User": lambda ids: ((u.id, AuditObject(f"{u.full_name} ({u.email})")) for u in _load(User, ids)),
        "Organisation": lambda ids: ((o.id, AuditObject(f"{o.code} — {o.name}")) for o in _load(Organisation, ids)),
        "Account": lambda ids: ((a.id, AuditObject(a.account_id, a.currency)) for a in _load(Account, ids)),
        "ApiClient": lambda ids: ((c.id, AuditObject(c.name)) for c in _load(ApiClient, ids)),
        "PayeeProvider": lambda ids: ((p.id, AuditObject(f"{p.name} ({p.fsp_id})")) for p in _load(PayeeProvider, ids)),
        "BeneficiaryList": lambda ids: ((x.id, AuditObject(x.name, x.currency)) for x in _load(BeneficiaryList, ids)),
        "FinePayment": lambda ids: ((f.id, AuditObject(f.reference, f.currency)) for f in _load(FinePayment, ids)),
    }
    names: dict[tuple[str, str], AuditObject] = {}
    for object_type, ids in wanted.items():
        reader = readers.get(object_type)
        if reader is None:
            continue
        for object_id, obj in reader(ids):
            names[(object_type, str(object_id))] = obj
    return names


def _load(model, ids: set[int]) -> list:
    return list(db.session.scalars(select(model).where(model.id.in_(ids))))


def object_text(event, names: dict[tuple[str, str], AuditObject]) -> str:
    """`LOT-2026-0001`, or `Lot n° 12 (supprimé)` when the object is gone."""
    if not event.object_type:
        return ""
    obj = names.get((event.object_type, str(event.object_id)))
    if obj is not None:
        return obj.label
    return f"{object_type_label(event.object_type).lower()} n° {event.object_id}".strip()


def details_text(event, names: dict[tuple[str, str], AuditObject]) -> str:
    """The details as French text: « motif : doublon · réservé : 40 000 F CFA »."""
    obj = names.get((event.object_type, str(event.object_id)))
    currency = (event.details or {}).get("currency") or (obj.currency if obj else None)
    parts = []
    for key, value in sorted((event.details or {}).items()):
        if key in HIDDEN_KEYS or value in (None, "", [], {}):
            continue
        if key == "reference" and obj is not None and obj.label == value:
            continue  # already the object's name
        parts.append(f"{DETAIL_LABELS.get(key, key.replace('_', ' '))} : {_value_text(key, value, currency)}")
    return " · ".join(parts)


def _value_text(key: str, value, currency: str | None) -> str:
    from backoffice.services.locale import format_number

    if key in MONEY_KEYS and isinstance(value, int) and currency in CURRENCIES:
        return format_amount(value, currency)
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, dict):
        return ", ".join(f"{DETAIL_LABELS.get(k, k)} {_value_text(k, v, currency)}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return ", ".join(_value_text(key, v, currency) for v in value)
    return VALUE_LABELS.get(str(value), str(value))


def sentence(event, names: dict[tuple[str, str], AuditObject]) -> str:
    """« Koffi Agossou a approuvé le lot LOT-2026-0001 »; « Le système … » for automatic actions."""
    who = event.user.full_name if event.user else "Le système"
    if event.action.startswith("auth."):
        return f"{who} {action_label(event.action)}"
    if event.action == "user.password_changed" and event.object_id == str(event.user_id):
        return f"{who} a changé son mot de passe"
    return f"{who} {action_label(event.action)} {object_text(event, names)}".strip()
