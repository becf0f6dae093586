"""Payer accounts as members read them: the ledger with its filters and CSV, batches paid from an account."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models.batches import (
    Batch,
    BatchStatus,
)
from backoffice.services.dashboard.exports import csv_amount
from backoffice.services.locale import format_iso_local, utc_bounds, zone_label


def ledger_query(
    account_id: int,
    kind: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    timezone: str = "UTC",
):
    """An account's ledger entries, newest first, filtered by kind and by day (inclusive) of `timezone`."""
    from backoffice.models import LedgerEntry

    stmt = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if kind:
        stmt = stmt.where(LedgerEntry.kind == kind)
    if date_from:
        stmt = stmt.where(LedgerEntry.created_at >= utc_bounds(date_from, date_from, timezone)[0])
    if date_to:
        end = date_to + timedelta(days=1)
        stmt = stmt.where(LedgerEntry.created_at < utc_bounds(end, end, timezone)[0])
    return stmt.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())


def ledger_csv_rows(entries, currency: str, decimal_mark: str = ",", timezone: str = "UTC") -> Iterable[list]:
    """The ledger as exported: one line per entry, amounts in the account's currency, times in
    the organisation's zone (named in the header)."""
    yield [f"Date, {zone_label(timezone)}", "Opération", "Montant", "Solde après", "Réservé après", "Devise", "Référence", "Note", "Par"]
    for e in entries:
        yield [
            format_iso_local(e.created_at, timezone),
            e.kind_label,
            csv_amount(e.amount, currency, decimal_mark),
            csv_amount(e.balance_after, currency, decimal_mark),
            csv_amount(e.reserved_after, currency, decimal_mark),
            currency,
            e.reference,
            e.note,
            e.user.full_name if e.user else "Système",
        ]


def batches_paid_from(account_id: int, limit: int = 20) -> list[Batch]:
    """The latest batches that paid (or will pay) from an account."""
    return list(
        db.session.scalars(
            select(Batch)
            .where(Batch.account_id == account_id, Batch.status.notin_((BatchStatus.DRAFT.value,)))
            .order_by(Batch.created_at.desc(), Batch.id.desc())
            .limit(limit)
        )
    )
