"""The double-payment guard: a batch's payment period, its content fingerprint, and the rows
*Déjà payé pour cette période*.

A row is flagged when the same beneficiary (id type + value) is, for the same organisation
and payment period, already paid (COMPLETED) in another batch, or in another active batch
(pending approval, approved, processing). The check runs at submission and again inside the
approval transaction, under a lock per organisation and period (`lock_period`), so that two
approvals of the same month are decided one after the other.

A file whose normalised rows (beneficiary, amount, currency) match an earlier batch is
recognised whatever its separator, encoding, column order or line endings: the fingerprint
is an order-independent sum of the rows' hashes, computed while the file streams.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, bindparam, or_, select, text, update
from sqlalchemy.orm import aliased

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.batches import ACTIVE_BATCH_STATUSES, Batch, BatchRow, BatchStatus, RowStatus
from backoffice.services import ServiceError
from backoffice.services.locale import plural
from backoffice.services.money import format_amount

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DEAD_BATCH_STATUSES = (BatchStatus.CANCELLED.value, BatchStatus.REJECTED.value)
# Rows of another batch that count as "this person is being, or was, paid".
_NOT_PAYING = (RowStatus.INVALID.value, RowStatus.SKIPPED.value, RowStatus.FAILED.value)


# Payment periods -------------------------------------------------------------------------


def current_period(today: date | None = None) -> str:
    today = today or utcnow().date()
    return f"{today:%Y-%m}"


def parse_period(value: str | None) -> str:
    """A `YYYY-MM` period; the current month when empty; a field error when unreadable."""
    value = (value or "").strip()
    if not value:
        return current_period()
    if not _PERIOD.match(value):
        raise ServiceError("Période de paiement illisible (attendu : un mois, par exemple 2026-12).", "payment_period")
    return value


def period_label(period: str) -> str:
    """`2026-12` → `décembre 2026` (the stored text itself when it is not a period)."""
    match = _PERIOD.match(period or "")
    if not match:
        return period or "—"
    return f"{MONTHS[int(match.group(2)) - 1]} {match.group(1)}"


def period_choices(today: date | None = None, before: int = 12, after: int = 2) -> list[tuple[str, str]]:
    """Months offered at upload: a year back to two months ahead, the current month first."""
    today = today or utcnow().date()
    index = today.year * 12 + today.month - 1
    months = [index, *range(index + after, index, -1), *range(index - 1, index - before - 1, -1)]
    return [(f"{m // 12:04d}-{m % 12 + 1:02d}", period_label(f"{m // 12:04d}-{m % 12 + 1:02d}")) for m in months]


# Content fingerprint ---------------------------------------------------------------------


class ContentFingerprint:
    """Order-independent hash of a multiset of rows (beneficiary, amount, currency)."""

    MODULUS = 1 << 256

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, id_type: str, id_value: str, amount: int | None, currency: str) -> None:
        line = f"{id_type}\x1f{id_value}\x1f{'' if amount is None else amount}\x1f{currency}"
        self.total = (self.total + int.from_bytes(hashlib.sha256(line.encode()).digest(), "big")) % self.MODULUS
        self.count += 1

    def hexdigest(self) -> str:
        return hashlib.sha256(f"{self.count}:{self.total:064x}".encode()).hexdigest() if self.count else ""


def earlier_batches(batch: Batch, column, value: str, live_only: bool = False) -> list[Batch]:
    """Older batches of the organisation with the same fingerprint (`column` = `value`)."""
    if not value:
        return []
    query = select(Batch).where(Batch.organisation_id == batch.organisation_id, column == value, Batch.id < batch.id)
    if live_only:
        query = query.where(Batch.status.notin_(DEAD_BATCH_STATUSES))
    return list(db.session.scalars(query.order_by(Batch.id).limit(10)))


def same_content_batches(batch: Batch) -> list[Batch]:
    """Earlier live batches of the organisation whose rows are the same as this one's."""
    return earlier_batches(batch, Batch.content_sha256, batch.content_sha256, live_only=True)


# Already paid for the period ---------------------------------------------------------------


def lock_period(organisation_id: int, period: str) -> None:
    """Serialise the guard's check-and-move per organisation and period (PostgreSQL).

    A transaction-scoped advisory lock: a second approval of the same month waits until the
    first has committed, then sees its rows. SQLite writers are serialised anyway.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    key = zlib.crc32(f"guard:{organisation_id}:{period}".encode())
    db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def flag_already_paid(batch: Batch) -> int:
    """Recompute the *Déjà payé* flags of the batch's rows still to be paid; returns how many."""
    other_row = aliased(BatchRow)
    other_batch = aliased(Batch)
    rows = db.session.execute(
        select(
            BatchRow.id,
            other_batch.id,
            other_batch.reference,
            other_batch.status,
            other_batch.created_at,
            other_row.amount,
            other_row.status,
            other_row.completed_at,
        )
        .join(
            other_row,
            and_(
                other_row.party_id_value == BatchRow.party_id_value,
                other_row.party_id_type == BatchRow.party_id_type,
                other_row.batch_id != BatchRow.batch_id,
            ),
        )
        .join(other_batch, other_batch.id == other_row.batch_id)
        .where(
            BatchRow.batch_id == batch.id,
            BatchRow.status == RowStatus.PENDING.value,
            other_batch.organisation_id == batch.organisation_id,
            other_batch.payment_period == batch.payment_period,
            or_(
                other_row.status == RowStatus.COMPLETED.value,
                and_(
                    other_batch.status.in_([s.value for s in ACTIVE_BATCH_STATUSES]),
                    other_row.status.notin_(_NOT_PAYING),
                ),
            ),
        )
        .order_by(BatchRow.id, other_row.status != RowStatus.COMPLETED.value, other_batch.id)
    ).all()
    flags: dict[int, dict] = {}
    for row_id, other_id, reference, batch_status, created_at, amount, row_status, completed_at in rows:
        if row_id in flags:
            continue
        when = completed_at or created_at
        flags[row_id] = {
            "batch_id": other_id,
            "reference": reference,
            "batch_status": batch_status,
            "row_status": row_status,
            "date": when.strftime("%d/%m/%Y") if when else "",
            "amount": amount,
            "currency": batch.currency,
        }
    db.session.execute(
        update(BatchRow)
        .where(BatchRow.batch_id == batch.id, BatchRow.already_paid.is_not(None))
        .values(already_paid=None)
        .execution_options(synchronize_session=False)
    )
    if flags:
        db.session.execute(
            update(BatchRow.__table__)
            .where(BatchRow.__table__.c.id == bindparam("row_id"))
            .values(already_paid=bindparam("flag")),
            [{"row_id": row_id, "flag": flag} for row_id, flag in flags.items()],
        )
    return len(flags)


def flag_message(flag: dict) -> str:
    """*Déjà payé pour cette période* with the other batch, its date and its amount."""
    amount = format_amount(flag["amount"], flag["currency"]) if flag.get("amount") is not None else "—"
    paid = "payé" if flag.get("row_status") == RowStatus.COMPLETED.value else "en cours"
    return f"Déjà payé pour cette période : lot {flag['reference']} du {flag['date']}, {amount} ({paid})."


@dataclass
class GuardReport:
    """What an approver must exclude or acknowledge before the batch is paid."""

    already_paid: int = 0
    same_content: list[Batch] = field(default_factory=list)
    discordant: int = 0
    unverified: int = 0

    @property
    def needs_acknowledgement(self) -> bool:
        return bool(self.already_paid or self.same_content or self.discordant)

    def reasons(self) -> list[str]:
        reasons = []
        if self.already_paid:
            reasons.append(plural(self.already_paid, "ligne déjà payée", "lignes déjà payées") + " pour cette période")
        if self.same_content:
            reasons.append(("contenu identique au lot " if len(self.same_content) == 1 else "contenu identique aux lots ") + ", ".join(b.reference for b in self.same_content[:3]))
        if self.discordant:
            reasons.append(plural(self.discordant, "ligne au nom discordant", "lignes au nom discordant"))
        return reasons


def report(batch: Batch) -> GuardReport:
    """The flags of the batch's rows still to be paid, as stored by the last check."""
    from sqlalchemy import func

    counts = db.session.execute(
        select(
            func.count(BatchRow.already_paid),
            func.count(BatchRow.id).filter(BatchRow.name_match == "DISCORDANT"),
            func.count(BatchRow.id).filter(BatchRow.lookup_status == "UNVERIFIED"),
        ).where(BatchRow.batch_id == batch.id, BatchRow.status == RowStatus.PENDING.value)
    ).one()
    return GuardReport(
        already_paid=counts[0], same_content=same_content_batches(batch), discordant=counts[1], unverified=counts[2]
    )
