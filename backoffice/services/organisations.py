"""Organisations and their payer accounts: creation and changes by platform admins."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import Account, Organisation, User
from backoffice.services import ServiceError, audit, parties
from backoffice.services.money import CURRENCIES
from backoffice.services.users import require_admin

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")


def create_organisation(actor: User, code: str, name: str) -> Organisation:
    require_admin(actor)
    code = code.strip().upper()
    if not _CODE.match(code):
        raise ServiceError("Le code doit comporter 2 à 32 lettres majuscules, chiffres, « - » ou « _ ».", field="code")
    if db.session.scalar(select(Organisation.id).where(Organisation.code == code)):
        raise ServiceError("Une organisation existe déjà avec ce code.", field="code")
    if not name.strip():
        raise ServiceError("Le nom est obligatoire.", field="name")
    organisation = Organisation(code=code, name=name.strip())
    db.session.add(organisation)
    db.session.flush()
    audit.record(actor, "organisation.created", organisation, code=code, name=organisation.name)
    return organisation


def update_organisation(actor: User, organisation: Organisation, name: str) -> None:
    require_admin(actor)
    if not name.strip():
        raise ServiceError("Le nom est obligatoire.", field="name")
    old = organisation.name
    organisation.name = name.strip()
    audit.record(actor, "organisation.updated", organisation, old_name=old, name=organisation.name)


def set_organisation_active(actor: User, organisation: Organisation, active: bool) -> None:
    """Deactivating an organisation signs its users out (they become inactive) but keeps its data."""
    require_admin(actor)
    organisation.active = active
    audit.record(actor, "organisation.activated" if active else "organisation.deactivated", organisation)


def create_account(
    actor: User,
    *,
    organisation_id: int,
    account_id: str,
    label: str,
    currency: str,
    party_id_type: str,
    party_id_value: str,
) -> Account:
    require_admin(actor)
    account_id = account_id.strip().upper()
    if not account_id:
        raise ServiceError("L'identifiant du compte est obligatoire.", field="account_id")
    if db.session.scalar(select(Account.id).where(func.upper(Account.account_id) == account_id)):
        raise ServiceError("Un compte existe déjà avec cet identifiant.", field="account_id")
    if currency not in CURRENCIES:
        raise ServiceError("Devise non prise en charge.", field="currency")
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        raise ServiceError("Organisation inconnue.", field="organisation_id")
    party_id_value = parties.normalise_party_id(party_id_type, party_id_value, organisation.country)
    refused = parties.check_party(party_id_type, party_id_value, organisation.country)
    if refused:
        field = "party_id_type" if parties.type_problem(party_id_type) else "party_id_value"
        raise ServiceError(f"Identifiant Mojaloop refusé : {refused}.", field=field)
    account = Account(
        organisation_id=organisation_id,
        account_id=account_id,
        label=label.strip(),
        currency=currency,
        party_id_type=party_id_type,
        party_id_value=party_id_value,
    )
    db.session.add(account)
    db.session.flush()
    audit.record(actor, "account.created", account, account_id=account_id, currency=currency)
    return account


def top_up_account(actor: User, account: Account, amount: int, reason: str) -> None:
    """An admin adds funds to a payer account: one TOPUP ledger entry and its audit event."""
    from backoffice.services import ledger

    require_admin(actor)
    ledger.top_up(account.id, amount, reason, actor)
    audit.record(actor, "account.topped_up", account, amount=amount, reason=reason.strip())
