"""The ledger: the only code that changes an account's balance or reservation.

Each function locks the account row (SELECT … FOR UPDATE on PostgreSQL), applies one
movement, writes its LedgerEntry in the same transaction and leaves the commit to the
caller, so a movement and the work it pays for land together or not at all.
"""

from __future__ import annotations

from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import Account, EntryKind, LedgerEntry, User
from backoffice.services import ServiceError
from backoffice.services.money import format_amount


class InsufficientFunds(ServiceError):
    """The account's available amount does not cover the reservation."""


def lock_account(account_id: int) -> Account:
    """Load an account under a row lock (a no-op lock on SQLite, which serialises writers)."""
    account = db.session.execute(
        select(Account).where(Account.id == account_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    return account


def _apply(account_id: int, kind: EntryKind, amount: int, reference: str, actor: User | None, note: str) -> LedgerEntry:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ServiceError("Le montant doit être un entier positif.")
    account = lock_account(account_id)
    if kind in (EntryKind.TOPUP, EntryKind.CREDIT):
        account.balance += amount
    elif kind == EntryKind.DEBIT:
        account.balance -= amount
    elif kind == EntryKind.RESERVE:
        if account.available < amount:
            raise InsufficientFunds(
                f"Fonds disponibles insuffisants sur {account.account_id} : "
                f"{format_amount(account.available, account.currency)} disponibles, "
                f"{format_amount(amount, account.currency)} demandés."
            )
        account.reserved += amount
    elif kind == EntryKind.RELEASE:
        if amount > account.reserved:
            raise ServiceError("Libération supérieure au montant réservé.")
        account.reserved -= amount
    entry = LedgerEntry(
        account_id=account.id,
        kind=kind.value,
        amount=amount,
        balance_after=account.balance,
        reserved_after=account.reserved,
        reference=reference[:200],
        note=note[:500],
        user_id=actor.id if actor is not None else None,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def top_up(account_id: int, amount: int, reason: str, actor: User | None) -> LedgerEntry:
    """Add funds to an account (an admin's top-up, with its reason)."""
    if not reason.strip():
        raise ServiceError("Le motif de l'approvisionnement est obligatoire.")
    return _apply(account_id, EntryKind.TOPUP, amount, "approvisionnement", actor, reason.strip())


def credit(account_id: int, amount: int, reference: str, note: str = "", actor: User | None = None) -> LedgerEntry:
    """Money received on the account (for example fines collected)."""
    return _apply(account_id, EntryKind.CREDIT, amount, reference, actor, note)


def reserve(account_id: int, amount: int, reference: str, actor: User | None = None, note: str = "") -> LedgerEntry:
    """Set funds aside for approved work; refused when available funds are short."""
    return _apply(account_id, EntryKind.RESERVE, amount, reference, actor, note)


def release(account_id: int, amount: int, reference: str, actor: User | None = None, note: str = "") -> LedgerEntry:
    """Give back part of a reservation (failed or skipped payments, end of a batch)."""
    return _apply(account_id, EntryKind.RELEASE, amount, reference, actor, note)


def debit(account_id: int, amount: int, reference: str, actor: User | None = None, note: str = "") -> LedgerEntry:
    """Take money that was paid out (amount plus fees) off the balance."""
    return _apply(account_id, EntryKind.DEBIT, amount, reference, actor, note)


def ledger_totals(account_id: int) -> tuple[int, int]:
    """Balance and reservation recomputed from the entries: what the account must hold."""
    rows = db.session.execute(
        select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.amount), 0))
        .where(LedgerEntry.account_id == account_id)
        .group_by(LedgerEntry.kind)
    ).all()
    sums = {kind: int(total) for kind, total in rows}
    balance = sums.get("TOPUP", 0) + sums.get("CREDIT", 0) - sums.get("DEBIT", 0)
    reserved = sums.get("RESERVE", 0) - sums.get("RELEASE", 0)
    return balance, reserved
