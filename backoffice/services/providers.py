"""Payee providers: the directory of FSPs that beneficiaries are paid into (admins keep it)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.providers import PayeeProvider
from backoffice.services import ServiceError, audit
from backoffice.services.users import require_admin

_FSP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def create_provider(actor: User, fsp_id: str, name: str) -> PayeeProvider:
    require_admin(actor)
    fsp_id = (fsp_id or "").strip()
    name = (name or "").strip()
    if not _FSP_ID.match(fsp_id):
        raise ServiceError(
            "L'identifiant FSP doit comporter 1 à 64 lettres, chiffres, « . », « - » ou « _ ».", field="fsp_id"
        )
    if db.session.scalar(select(PayeeProvider.id).where(func.lower(PayeeProvider.fsp_id) == fsp_id.lower())):
        raise ServiceError("Un fournisseur existe déjà avec cet identifiant FSP.", field="fsp_id")
    if not name:
        raise ServiceError("Le nom est obligatoire.", field="name")
    provider = PayeeProvider(fsp_id=fsp_id, name=name[:200])
    db.session.add(provider)
    db.session.flush()
    audit.record(actor, "provider.created", provider, fsp_id=fsp_id, name=provider.name)
    return provider


def update_provider(actor: User, provider: PayeeProvider, name: str) -> None:
    require_admin(actor)
    name = (name or "").strip()
    if not name:
        raise ServiceError("Le nom est obligatoire.", field="name")
    old = provider.name
    provider.name = name[:200]
    audit.record(actor, "provider.updated", provider, old_name=old, name=provider.name)


def set_provider_active(actor: User, provider: PayeeProvider, active: bool) -> None:
    """A deactivated provider keeps its name on past rows; it is only hidden from choices."""
    require_admin(actor)
    provider.active = active
    audit.record(actor, "provider.activated" if active else "provider.deactivated", provider)


def provider_names() -> dict[str, str]:
    """FSP id → name of every provider (inactive ones too: past rows still name them)."""
    return dict(db.session.execute(select(PayeeProvider.fsp_id, PayeeProvider.name)).all())


def active_providers() -> list[PayeeProvider]:
    """For filter choices (e.g. the history's `provider` filter)."""
    return list(db.session.scalars(select(PayeeProvider).where(PayeeProvider.active).order_by(PayeeProvider.name)))


def provider_label(fsp_id: str | None, names: dict[str, str] | None = None) -> str:
    """What a page shows for a row's payee FSP: its name, or the raw id when unknown."""
    if not fsp_id:
        return "—"
    names = provider_names() if names is None else names
    return names.get(fsp_id, fsp_id)
