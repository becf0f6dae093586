"""Organisations and their payer accounts: creation, changes and top-ups (four eyes) by platform admins."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update

from backoffice.extensions import db
from backoffice.models import Account, Organisation, User
from backoffice.models.approvals import TopUpRequest, TopUpStatus
from backoffice.models.base import utcnow
from backoffice.services import PermissionDenied, ServiceError, audit, parties
from backoffice.services.locale import DEFAULT_TIMEZONE, is_timezone
from backoffice.services.money import CURRENCIES
from backoffice.services.users import require_admin

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
# Account ids end up in file names and headers (the ledger export): a safe set of characters only.
_ACCOUNT_ID = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,63}$", re.ASCII)


def _checked_timezone(timezone: str) -> str:
    timezone = (timezone or "").strip()
    if not is_timezone(timezone):
        raise ServiceError("Fuseau horaire inconnu (exemple : Africa/Porto-Novo).", field="timezone")
    return timezone


def _checked_country(country: str) -> str:
    country = (country or "").strip().upper()
    if not parties.is_country(country):
        raise ServiceError("Pays inconnu (code ISO à deux lettres, par exemple BJ).", field="country")
    return country


def create_organisation(
    actor: User, code: str, name: str, timezone: str = DEFAULT_TIMEZONE, country: str = ""
) -> Organisation:
    require_admin(actor)
    code = code.strip().upper()
    if not _CODE.match(code):
        raise ServiceError("Le code doit comporter 2 à 32 lettres majuscules, chiffres, « - » ou « _ ».", field="code")
    if db.session.scalar(select(Organisation.id).where(Organisation.code == code)):
        raise ServiceError("Une organisation existe déjà avec ce code.", field="code")
    if not name.strip():
        raise ServiceError("Le nom est obligatoire.", field="name")
    timezone = _checked_timezone(timezone)
    country = _checked_country(country)
    organisation = Organisation(code=code, name=name.strip(), timezone=timezone, country=country)
    db.session.add(organisation)
    db.session.flush()
    audit.record(
        actor, "organisation.created", organisation, code=code, name=organisation.name, timezone=timezone, country=country
    )
    return organisation


def update_organisation(
    actor: User, organisation: Organisation, name: str, timezone: str | None = None, country: str | None = None
) -> None:
    require_admin(actor)
    if not name.strip():
        raise ServiceError("Le nom est obligatoire.", field="name")
    timezone = _checked_timezone(timezone) if timezone is not None else organisation.timezone
    country = _checked_country(country) if country is not None else organisation.country
    old, old_timezone, old_country = organisation.name, organisation.timezone, organisation.country
    organisation.name = name.strip()
    organisation.timezone = timezone
    organisation.country = country
    changes = {"old_country": old_country, "country": country} if country != old_country else {}
    if timezone != old_timezone:
        from backoffice.services.dashboard.rollups import drop_rollups

        drop_rollups(organisation.id)  # their days were the old zone's
        changes |= {"old_timezone": old_timezone, "timezone": timezone}
    audit.record(actor, "organisation.updated", organisation, old_name=old, name=organisation.name, **changes)


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
    if not _ACCOUNT_ID.match(account_id):
        raise ServiceError(
            "L'identifiant du compte ne contient que des lettres, des chiffres, « . », « - » ou « _ » (64 au plus).",
            field="account_id",
        )
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


def request_top_up(actor: User, account: Account, amount: int, reason: str) -> TopUpRequest:
    """An admin asks for funds to be added; nothing changes the balance before another admin approves."""
    require_admin(actor)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ServiceError("Le montant doit être positif.", field="amount")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Le motif de l'approvisionnement est obligatoire.", field="reason")
    request = TopUpRequest(account_id=account.id, amount=amount, reason=reason[:500], requested_by_id=actor.id)
    db.session.add(request)
    db.session.flush()
    audit.record(
        actor,
        "account.top_up_requested",
        account,
        organisation_id=account.organisation_id,
        request_id=request.id,
        amount=amount,
        reason=reason,
    )
    return request


def _decide_top_up(actor: User, request_id: int, status: TopUpStatus, reason: str) -> TopUpRequest:
    """Move a pending request to APPROVED or REFUSED once (compare-and-set), by another admin."""
    require_admin(actor)
    request = db.session.execute(
        select(TopUpRequest).where(TopUpRequest.id == request_id).with_for_update()
    ).scalar_one_or_none()
    if request is None:
        raise ServiceError("Demande d'approvisionnement introuvable.")
    if request.requested_by_id == actor.id:
        raise PermissionDenied(
            "Un approvisionnement est approuvé ou refusé par un autre administrateur que celui qui l'a demandé."
        )
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Le motif de la décision est obligatoire.", field="reason")
    moved = db.session.execute(
        update(TopUpRequest)
        .where(TopUpRequest.id == request.id, TopUpRequest.status == TopUpStatus.PENDING.value)
        .values(status=status.value, decided_by_id=actor.id, decided_at=utcnow(), decision_reason=reason[:500])
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise ServiceError("Cette demande d'approvisionnement a déjà été traitée.")
    db.session.refresh(request)
    return request


def approve_top_up(actor: User, request_id: int, reason: str) -> TopUpRequest:
    """A second admin approves: the TOPUP ledger entry is written now, with both names on record."""
    from backoffice.services import ledger

    request = _decide_top_up(actor, request_id, TopUpStatus.APPROVED, reason)
    ledger.top_up(request.account_id, request.amount, request.reason, actor)
    _audit_decision(actor, "account.topped_up", request)
    return request


def refuse_top_up(actor: User, request_id: int, reason: str) -> TopUpRequest:
    """A second admin refuses, saying why; the balance never moved."""
    request = _decide_top_up(actor, request_id, TopUpStatus.REFUSED, reason)
    _audit_decision(actor, "account.top_up_refused", request)
    return request


def _audit_decision(actor: User, action: str, request: TopUpRequest) -> None:
    audit.record(
        actor,
        action,
        request.account,
        organisation_id=request.account.organisation_id,
        request_id=request.id,
        amount=request.amount,
        requested_by=request.requested_by_id,
        reason=request.decision_reason,
    )


def pending_top_ups():
    """The statement behind the admins' list of requests waiting for a decision (oldest first)."""
    return (
        select(TopUpRequest)
        .where(TopUpRequest.status == TopUpStatus.PENDING.value)
        .order_by(TopUpRequest.requested_at, TopUpRequest.id)
    )
