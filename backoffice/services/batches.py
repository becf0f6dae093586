"""Batches: creation from an uploaded file, the four-eyes transitions, history and figures.

Allowed transitions (one function each, each checking who may act and writing a
BatchEvent and an audit event):

    DRAFT            → PENDING_APPROVAL   submit_batch   (the uploader)
    DRAFT            → CANCELLED          cancel_batch   (the uploader)
    PENDING_APPROVAL → APPROVED           approve_batch  (another gestionnaire; reserves the total)
    PENDING_APPROVAL → REJECTED           reject_batch   (another gestionnaire; a reason)
    PENDING_APPROVAL → CANCELLED          cancel_batch   (the uploader)

What happens after APPROVED belongs to `services.processing`.
The transitions commit themselves: the processing queue and the notification mails that
follow must only ever see committed state.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import BinaryIO
from uuid import uuid4

from flask import current_app
from sqlalchemy import Select, and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import joinedload

from backoffice.extensions import db
from backoffice.models import Account, User
from backoffice.models.base import utcnow
from backoffice.models.batches import (
    ROW_STATUS_LABELS,
    Batch,
    BatchEvent,
    BatchRow,
    BatchStatus,
    RowStatus,
)
from backoffice.services import PermissionDenied, ServiceError, audit, csv_import, ledger, notifications, processing
from backoffice.services.money import CURRENCIES, plain_decimal
from backoffice.services.spreadsheets import safe_cell

INSERT_GROUP = 1000


# Creation ------------------------------------------------------------------------------


def _check_gestionnaire(actor: User, organisation_id: int | None = None) -> None:
    if not actor.is_gestionnaire:
        raise PermissionDenied("Seul un gestionnaire peut effectuer cette action.")
    if organisation_id is not None and actor.organisation_id != organisation_id:
        raise PermissionDenied("Ce lot appartient à une autre organisation.")


def payer_accounts(organisation_id: int) -> list[Account]:
    """The active payer accounts a batch of this organisation may be paid from."""
    return list(
        db.session.scalars(
            select(Account)
            .where(Account.organisation_id == organisation_id, Account.active.is_(True))
            .order_by(Account.account_id)
        )
    )


def create_from_upload(actor: User, account_id: int, label: str, stream: BinaryIO, file_name: str) -> Batch:
    """Read, check and store an uploaded file as a DRAFT batch (the caller commits).

    The file is streamed: rows are checked one by one and inserted in groups, and the
    counts and totals are computed on the way. A file refused as a whole raises
    `csv_import.FileRejected` before anything is written, or leaves the session to be
    rolled back (the caller's transaction covers the batch and all its rows).
    """
    _check_gestionnaire(actor)
    account = db.session.get(Account, account_id)
    if account is None or account.organisation_id != actor.organisation_id or not account.active:
        raise ServiceError("Choisissez un compte payeur actif de votre organisation.", field="account_id")
    label = (label or "").strip()
    if not label:
        raise ServiceError("Le libellé du lot est obligatoire.", field="label")
    if account.currency not in CURRENCIES:
        raise ServiceError(f"Devise du compte non prise en charge : {account.currency}.", field="account_id")
    config = current_app.config
    info = csv_import.measure(stream, config["IMPORT_MAX_BYTES"])
    fmt, positions, display, records = csv_import.open_records(stream, info)

    batch = Batch(
        organisation_id=actor.organisation_id,
        account_id=account.id,
        reference=f"TMP-{uuid4().hex[:24]}",
        label=label[:200],
        status=BatchStatus.DRAFT.value,
        currency=account.currency,
        file_name=(file_name or "")[:255],
        file_sha256=info.sha256,
        file_format=fmt.code,
        created_by_id=actor.id,
    )
    db.session.add(batch)
    db.session.flush()
    # The reference derives from the id, so two uploads at the same moment never collide.
    batch.reference = f"LOT-{batch.created_at:%Y%m%d}-{batch.id:04d}"
    db.session.flush()

    rows_total = valid = invalid = warned = 0
    total_amount = 0
    group: list[tuple] = []
    write_group = _row_writer()
    transfer_ids: Iterator[str] = iter(())
    for row in csv_import.validate_rows(records, fmt, positions, display, account.currency, config["IMPORT_MAX_ROWS"]):
        rows_total += 1
        if row.errors:
            invalid += 1
        else:
            valid += 1
            total_amount += row.amount or 0
        if row.warnings:
            warned += 1
        transfer_id = next(transfer_ids, None)
        if transfer_id is None:
            transfer_ids = _uuid4_strings(INSERT_GROUP)
            transfer_id = next(transfer_ids)
        group.append(_row_values(batch, row, transfer_id))
        if len(group) >= INSERT_GROUP:
            write_group(group)
            group = []
    if group:
        write_group(group)
    if rows_total == 0:
        raise csv_import.FileRejected("Le fichier ne contient aucune ligne de paiement (seulement l'en-tête).")

    batch.row_count = rows_total
    batch.valid_count = valid
    batch.invalid_count = invalid
    batch.warning_count = warned
    batch.total_amount = total_amount
    earlier = earlier_uploads_of_file(batch)
    message = f"Fichier « {batch.file_name} » importé : {rows_total} lignes, {valid} valides, {invalid} invalides."
    if earlier:
        message += f" Ce fichier a déjà été importé ({', '.join(b.reference for b in earlier[:3])})."
    details = {
        "format": fmt.code,
        "rows": rows_total,
        "valid": valid,
        "invalid": invalid,
        "warnings": warned,
        "total_amount": total_amount,
        "sha256": info.sha256,
        "encoding": info.encoding,
        "same_file_as": [b.reference for b in earlier],
    }
    _event(batch, actor, "imported", message, details)
    audit.record(actor, "batches.imported", batch, reference=batch.reference, **details)
    db.session.flush()
    return batch


ROW_COLUMNS = (
    "batch_id",
    "line_number",
    "status",
    "party_id_type",
    "party_id_value",
    "amount",
    "currency",
    "name",
    "note",
    "source_reference",
    "errors",
    "warnings",
    "transfer_id",
    "home_transaction_id",
    "fee",
    "attempts",
    "status_checks",
    "settled",
)


# Columns that may hold NULL; every other text column is NOT NULL (empty string at most).
NULLABLE_ROW_COLUMNS = ("amount", "errors", "warnings")


def _row_writer():
    """A function that writes a group of row tuples (ROW_COLUMNS order) in the session's transaction.

    PostgreSQL gets COPY in CSV form (several times faster than multi-row INSERTs for
    100 000 rows); SQLite a plain DB-API executemany. Both skip the ORM's per-row
    bookkeeping; JSON columns arrive already encoded.
    """
    connection = db.session.connection()
    columns = ", ".join(ROW_COLUMNS)
    if connection.dialect.name == "postgresql":
        dbapi_connection = connection.connection.dbapi_connection
        # In COPY's CSV form an unquoted empty field is NULL: FORCE_NOT_NULL keeps empty
        # names and notes as empty strings.
        not_null = ", ".join(c for c in ROW_COLUMNS if c not in NULLABLE_ROW_COLUMNS)
        copy_sql = f"COPY batch_rows ({columns}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({not_null}))"

        def write_copy(group: list[tuple]) -> None:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(group)
            buffer.seek(0)
            with dbapi_connection.cursor() as cursor:
                cursor.copy_expert(copy_sql, buffer)

        return write_copy
    if connection.dialect.name == "sqlite":
        sql = f"INSERT INTO batch_rows ({columns}) VALUES ({', '.join('?' for _ in ROW_COLUMNS)})"
        return lambda group: connection.exec_driver_sql(sql, group)
    statement = insert(BatchRow.__table__)
    json_columns = {"errors", "warnings"}

    def write_insert(group: list[tuple]) -> None:
        connection.execute(
            statement,
            [
                {
                    c: (json.loads(v) if c in json_columns and v is not None else v)
                    for c, v in zip(ROW_COLUMNS, t, strict=True)
                }
                for t in group
            ],
        )

    return write_insert


def _uuid4_strings(count: int) -> Iterator[str]:
    """Random version-4 UUIDs as text, from one urandom call (faster than uuid4() in a loop)."""
    raw = bytearray(os.urandom(16 * count))
    for offset in range(0, 16 * count, 16):
        raw[offset + 6] = (raw[offset + 6] & 0x0F) | 0x40
        raw[offset + 8] = (raw[offset + 8] & 0x3F) | 0x80
        h = raw[offset : offset + 16].hex()
        yield f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _row_values(batch: Batch, row: csv_import.CheckedRow, transfer_id: str) -> tuple:
    """One row in ROW_COLUMNS order, JSON columns encoded."""
    return (
        batch.id,
        row.line_number,
        RowStatus.INVALID.value if row.errors else RowStatus.PENDING.value,
        row.party_id_type[:20],
        row.party_id_value,
        row.amount,
        row.currency[:3],
        row.name,
        row.note,
        row.source_reference,
        json.dumps(row.errors, ensure_ascii=False) if row.errors else None,
        json.dumps(row.warnings, ensure_ascii=False) if row.warnings else None,
        transfer_id,
        f"{batch.reference}-{row.line_number}",
        0,
        0,
        0,
        False,
    )


def earlier_uploads_of_file(batch: Batch) -> list[Batch]:
    """Other batches of the organisation made from the same file (same SHA-256), older first."""
    if not batch.file_sha256:
        return []
    return list(
        db.session.scalars(
            select(Batch)
            .where(
                Batch.organisation_id == batch.organisation_id,
                Batch.file_sha256 == batch.file_sha256,
                Batch.id != batch.id,
                Batch.id < batch.id,
            )
            .order_by(Batch.id)
            .limit(10)
        )
    )


def _event(batch: Batch, actor: User | None, action: str, message: str, details: dict | None = None) -> BatchEvent:
    event = BatchEvent(
        batch_id=batch.id,
        user_id=actor.id if actor is not None else None,
        action=action,
        message=message[:500],
        details=details,
    )
    db.session.add(event)
    return event


# Transitions ---------------------------------------------------------------------------


def _lock_batch(batch_id: int) -> Batch:
    """Reload the batch under a row lock, so that two people cannot move it at once."""
    batch = db.session.execute(
        select(Batch).where(Batch.id == batch_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    return batch


def _require_status(batch: Batch, *allowed: BatchStatus) -> None:
    if batch.status not in {s.value for s in allowed}:
        raise ServiceError(f"Action impossible : le lot {batch.reference} est « {batch.status_label} ».")


def _move(batch: Batch, new_status: BatchStatus, *allowed: BatchStatus) -> None:
    """Change the status only if it is still one of `allowed` (compare-and-set).

    The row lock already serialises transitions on PostgreSQL; the conditional UPDATE
    also holds on SQLite, where FOR UPDATE does nothing, so that an approval and a
    cancellation racing each other can never both win.
    """
    _require_status(batch, *allowed)
    moved = db.session.execute(
        update(Batch)
        .where(Batch.id == batch.id, Batch.status.in_([s.value for s in allowed]))
        .values(status=new_status.value)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise ServiceError(f"Action impossible : le lot {batch.reference} vient de changer d'état.")
    batch.status = new_status.value


def can_submit(actor: User, batch: Batch) -> bool:
    return actor.is_gestionnaire and batch.created_by_id == actor.id and batch.status == BatchStatus.DRAFT


def can_decide(actor: User, batch: Batch) -> bool:
    """Approve or reject: a gestionnaire of the organisation who neither uploaded nor submitted it."""
    return (
        actor.is_gestionnaire
        and actor.organisation_id == batch.organisation_id
        and actor.id not in (batch.created_by_id, batch.submitted_by_id)
        and batch.status == BatchStatus.PENDING_APPROVAL
    )


def can_cancel(actor: User, batch: Batch) -> bool:
    return (
        actor.is_gestionnaire
        and batch.created_by_id == actor.id
        and batch.status in (BatchStatus.DRAFT, BatchStatus.PENDING_APPROVAL)
    )


def submit_batch(actor: User, batch_id: int, exclude_invalid: bool = False) -> Batch:
    """The uploader sends a checked draft for approval; invalid rows need an explicit exclusion."""
    batch = _lock_batch(batch_id)
    try:
        _check_gestionnaire(actor, batch.organisation_id)
        if batch.created_by_id != actor.id:
            raise PermissionDenied("Seul le gestionnaire qui a importé le lot peut le soumettre.")
        _require_status(batch, BatchStatus.DRAFT)
        if batch.valid_count == 0:
            raise ServiceError("Ce lot ne contient aucune ligne valide : il ne peut pas être soumis.")
        if batch.invalid_count and not exclude_invalid:
            raise ServiceError(
                f"Ce lot contient {batch.invalid_count} ligne(s) invalide(s) : cochez « Exclure les lignes "
                "invalides » pour le soumettre sans elles, ou corrigez le fichier et importez-le à nouveau.",
                field="exclude_invalid",
            )
        skipped = 0
        if batch.invalid_count:
            skipped = db.session.execute(
                update(BatchRow)
                .where(BatchRow.batch_id == batch.id, BatchRow.status == RowStatus.INVALID.value)
                .values(status=RowStatus.SKIPPED.value)
                .execution_options(synchronize_session=False)
            ).rowcount
        batch.exclude_invalid = bool(skipped)
        _move(batch, BatchStatus.PENDING_APPROVAL, BatchStatus.DRAFT)
        batch.submitted_by_id = actor.id
        batch.submitted_at = utcnow()
        message = "Lot soumis pour approbation."
        if skipped:
            message += f" {skipped} ligne(s) invalide(s) exclue(s)."
        _event(batch, actor, "submitted", message, {"skipped": skipped})
        audit.record(actor, "batches.submitted", batch, reference=batch.reference, skipped=skipped)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    notifications.batch_submitted(batch.id)
    return batch


def approve_batch(actor: User, batch_id: int) -> Batch:
    """A second gestionnaire approves: the total is reserved on the payer account, then paid.

    The reservation, the new status and the events land in one transaction; the
    processing is queued only once that transaction is committed.
    """
    batch = _lock_batch(batch_id)
    try:
        _check_gestionnaire(actor, batch.organisation_id)
        _require_status(batch, BatchStatus.PENDING_APPROVAL)
        if actor.id in (batch.created_by_id, batch.submitted_by_id):
            raise PermissionDenied(
                "Un lot doit être approuvé par un autre gestionnaire que celui qui l'a importé ou soumis."
            )
        _move(batch, BatchStatus.APPROVED, BatchStatus.PENDING_APPROVAL)
        ledger.reserve(batch.account_id, batch.total_amount, reference=batch.reference, actor=actor)
        batch.reserved_amount = batch.total_amount
        batch.approved_by_id = actor.id
        batch.approved_at = utcnow()
        _event(batch, actor, "approved", "Lot approuvé ; le montant total est réservé sur le compte payeur.")
        audit.record(actor, "batches.approved", batch, reference=batch.reference, reserved=batch.total_amount)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    processing.start_processing(batch.id)
    notifications.batch_approved(batch.id)
    return batch


def reject_batch(actor: User, batch_id: int, reason: str) -> Batch:
    """A second gestionnaire refuses the batch, saying why."""
    batch = _lock_batch(batch_id)
    try:
        _check_gestionnaire(actor, batch.organisation_id)
        _require_status(batch, BatchStatus.PENDING_APPROVAL)
        if actor.id in (batch.created_by_id, batch.submitted_by_id):
            raise PermissionDenied("Un lot doit être rejeté par un autre gestionnaire que celui qui l'a importé.")
        reason = (reason or "").strip()
        if not reason:
            raise ServiceError("Le motif du rejet est obligatoire.", field="reason")
        _move(batch, BatchStatus.REJECTED, BatchStatus.PENDING_APPROVAL)
        batch.rejected_by_id = actor.id
        batch.rejected_at = utcnow()
        batch.rejection_reason = reason[:2000]
        _event(batch, actor, "rejected", f"Lot rejeté : {reason}", {"reason": reason})
        audit.record(actor, "batches.rejected", batch, reference=batch.reference, reason=reason)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    notifications.batch_rejected(batch.id)
    return batch


def cancel_batch(actor: User, batch_id: int) -> Batch:
    """The uploader withdraws the batch, until it is approved."""
    batch = _lock_batch(batch_id)
    try:
        _check_gestionnaire(actor, batch.organisation_id)
        if batch.created_by_id != actor.id:
            raise PermissionDenied("Seul le gestionnaire qui a importé le lot peut l'annuler.")
        _move(batch, BatchStatus.CANCELLED, BatchStatus.DRAFT, BatchStatus.PENDING_APPROVAL)
        batch.cancelled_by_id = actor.id
        batch.cancelled_at = utcnow()
        _event(batch, actor, "cancelled", "Lot annulé par le gestionnaire qui l'a importé.")
        audit.record(actor, "batches.cancelled", batch, reference=batch.reference)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return batch


# History -------------------------------------------------------------------------------


@dataclass
class HistoryFilters:
    """The history page's query string, read once (bad values are ignored)."""

    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    uploader: int | None = None
    account: int | None = None
    q: str = ""
    error_code: str = ""
    provider: str = ""

    @classmethod
    def from_args(cls, args) -> HistoryFilters:
        def _date(name: str) -> date | None:
            try:
                return date.fromisoformat(args.get(name, "").strip())
            except ValueError:
                return None

        def _int(name: str) -> int | None:
            value = args.get(name, "").strip()
            return int(value) if value.isdigit() else None

        status = args.get("status", "").strip().upper()
        return cls(
            status=status if status in BatchStatus.__members__ else "",
            date_from=_date("date_from"),
            date_to=_date("date_to"),
            uploader=_int("uploader"),
            account=_int("account"),
            q=args.get("q", "").strip()[:100],
            error_code=args.get("error_code", "").strip()[:16],
            provider=args.get("provider", "").strip()[:64],
        )

    @property
    def active(self) -> bool:
        return any(
            (self.status, self.date_from, self.date_to, self.uploader, self.account, self.q)
            + (self.error_code, self.provider)
        )


def history_query(organisation_id: int, filters: HistoryFilters) -> Select:
    """The organisation's batches matching the filters, newest first."""
    stmt = (
        select(Batch)
        .where(Batch.organisation_id == organisation_id)
        .options(joinedload(Batch.created_by), joinedload(Batch.account))
        .order_by(Batch.created_at.desc(), Batch.id.desc())
    )
    if filters.status:
        stmt = stmt.where(Batch.status == filters.status)
    if filters.date_from:
        stmt = stmt.where(Batch.created_at >= datetime.combine(filters.date_from, datetime.min.time()))
    if filters.date_to:
        stmt = stmt.where(Batch.created_at < datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time()))
    if filters.uploader:
        stmt = stmt.where(Batch.created_by_id == filters.uploader)
    if filters.account:
        stmt = stmt.where(Batch.account_id == filters.account)
    if filters.q:
        like = f"%{_escape_like(filters.q.lower())}%"
        stmt = stmt.where(
            or_(func.lower(Batch.label).like(like, escape="\\"), func.lower(Batch.reference).like(like, escape="\\"))
        )
    if filters.error_code:
        stmt = stmt.where(
            exists().where(and_(BatchRow.batch_id == Batch.id, BatchRow.error_code == filters.error_code))
        )
    if filters.provider:
        stmt = stmt.where(
            exists().where(and_(BatchRow.batch_id == Batch.id, BatchRow.payee_fsp_id == filters.provider))
        )
    return stmt


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Batches whose rows may have been paid; the others have no outcome to count.
PAID_STATUSES = {
    BatchStatus.APPROVED.value,
    BatchStatus.PROCESSING.value,
    BatchStatus.COMPLETED.value,
    BatchStatus.PARTIALLY_COMPLETED.value,
    BatchStatus.FAILED.value,
}


def outcome_counts(batches: list[Batch]) -> dict[int, dict[str, int]]:
    """Completed / failed row counts for a page of batches, in one GROUP BY query."""
    counts: dict[int, dict[str, int]] = {b.id: {"completed": 0, "failed": 0} for b in batches}
    paid = [b.id for b in batches if b.status in PAID_STATUSES]
    if not paid:
        return counts
    rows = db.session.execute(
        select(BatchRow.batch_id, BatchRow.status, func.count())
        .where(
            BatchRow.batch_id.in_(paid),
            BatchRow.status.in_([RowStatus.COMPLETED.value, RowStatus.FAILED.value]),
        )
        .group_by(BatchRow.batch_id, BatchRow.status)
    ).all()
    for batch_id, status, count in rows:
        counts[batch_id]["completed" if status == RowStatus.COMPLETED else "failed"] = count
    return counts


def uploaders(organisation_id: int) -> list[User]:
    """People who uploaded at least one batch of the organisation (history filter)."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.id.in_(select(Batch.created_by_id).where(Batch.organisation_id == organisation_id)))
            .order_by(User.last_name, User.first_name)
        )
    )


# Details -------------------------------------------------------------------------------


@dataclass
class BatchStatistics:
    """Counts and amounts of a batch's rows by status, from one GROUP BY."""

    by_status: dict[str, int]
    amount_by_status: dict[str, int]
    fees: int

    def count(self, *statuses: RowStatus) -> int:
        return sum(self.by_status.get(s.value, 0) for s in statuses)

    def amount(self, *statuses: RowStatus) -> int:
        return sum(self.amount_by_status.get(s.value, 0) for s in statuses)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def completed(self) -> int:
        return self.count(RowStatus.COMPLETED)

    @property
    def failed(self) -> int:
        return self.count(RowStatus.FAILED)

    @property
    def pending(self) -> int:
        return self.count(RowStatus.PENDING, RowStatus.SENDING, RowStatus.UNKNOWN)

    @property
    def needs_review(self) -> int:
        return self.count(RowStatus.NEEDS_REVIEW)

    @property
    def excluded(self) -> int:
        return self.count(RowStatus.INVALID, RowStatus.SKIPPED)

    @property
    def success_rate(self) -> float | None:
        """Share of settled payments that completed (None before any is settled)."""
        settled = self.completed + self.failed
        return round(100 * self.completed / settled, 1) if settled else None


def statistics(batch: Batch) -> BatchStatistics:
    rows = db.session.execute(
        select(
            BatchRow.status,
            func.count(),
            func.coalesce(func.sum(BatchRow.amount), 0),
            func.coalesce(func.sum(BatchRow.fee), 0),
        )
        .where(BatchRow.batch_id == batch.id)
        .group_by(BatchRow.status)
    ).all()
    return BatchStatistics(
        by_status={status: int(count) for status, count, _a, _f in rows},
        amount_by_status={status: int(amount) for status, _c, amount, _f in rows},
        fees=sum(int(fee) for *_x, fee in rows),
    )


def rows_query(batch: Batch, status: str = "", q: str = "") -> Select:
    """The batch's rows in file order, filtered by status and a beneficiary search."""
    stmt = select(BatchRow).where(BatchRow.batch_id == batch.id).order_by(BatchRow.line_number)
    if status in RowStatus.__members__:
        stmt = stmt.where(BatchRow.status == status)
    q = q.strip()[:100]
    if q:
        like = f"%{_escape_like(q.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(BatchRow.party_id_value).like(like, escape="\\"),
                func.lower(BatchRow.name).like(like, escape="\\"),
                func.lower(func.coalesce(BatchRow.payee_name, "")).like(like, escape="\\"),
            )
        )
    return stmt


@dataclass
class RowsPage:
    """One page of a batch's rows. `total` is None for a search (no count over the whole batch)."""

    items: list[BatchRow]
    page: int
    per_page: int
    total: int | None
    has_next: bool

    @property
    def pages(self) -> int | None:
        return max(1, -(-self.total // self.per_page)) if self.total is not None else None

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def rows_page(batch: Batch, stats: BatchStatistics, status: str, q: str, page: int, per_page: int) -> RowsPage:
    """A page of rows without a COUNT over the batch: totals come from the statistics.

    A beneficiary search is not counted at all (it would scan the batch a second time);
    one extra row tells whether a next page exists.
    """
    page = max(1, page)
    stmt = rows_query(batch, status, q).limit(per_page + 1).offset((page - 1) * per_page)
    items = list(db.session.scalars(stmt))
    if q.strip():
        total = None
    elif status in RowStatus.__members__:
        total = stats.by_status.get(status, 0)
    else:
        total = stats.total
    return RowsPage(items=items[:per_page], page=page, per_page=per_page, total=total, has_next=len(items) > per_page)


def problem_rows_query(batch: Batch, kind: str = "errors") -> Select:
    """Rows with validation errors (INVALID or SKIPPED) or with warnings, in file order."""
    stmt = select(BatchRow).where(BatchRow.batch_id == batch.id).order_by(BatchRow.line_number)
    if kind == "warnings":
        return stmt.where(BatchRow.warnings.is_not(None))
    return stmt.where(BatchRow.status.in_([RowStatus.INVALID.value, RowStatus.SKIPPED.value]))


def timeline(batch: Batch) -> list[BatchEvent]:
    return list(
        db.session.scalars(
            select(BatchEvent)
            .where(BatchEvent.batch_id == batch.id)
            .options(joinedload(BatchEvent.user))
            .order_by(BatchEvent.created_at, BatchEvent.id)
        )
    )


# CSV reports ---------------------------------------------------------------------------
# Both reports are produced page by page (keyset on the line number, EXPORT_PAGE rows at a
# time) so that a download of 100 000 rows never holds more than one page, nor a database
# session between two pages: the view streams `csv_pages`.

EXPORT_PAGE = 2000


def _write(rows: list[list], delimiter: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


def csv_header(report: str, batch_id: int, delimiter: str = ",") -> str:
    """The BOM (so Excel reads UTF-8) and the header line of a report."""
    batch = db.session.get(Batch, batch_id)
    if report == "errors":
        header = ["ligne", "gravite", "champ", "motif", "identifiant", f"montant_lu ({batch.currency})", "statut"]
    else:
        # Amounts in the currency's unit, with a point as decimal mark when it has minor units.
        unit = f"{batch.currency}, en unités" + (", point décimal" if CURRENCIES.get(batch.currency, 2) else "")
        header = [
            "ligne",
            "type_identifiant",
            "identifiant",
            "nom_fichier",
            "nom_mojaloop",
            f"montant ({unit})",
            f"frais ({unit})",
            "devise",
            "statut",
            "libelle_statut",
            "transfer_id",
            "reference_transaction",
            "code_erreur",
            "description_erreur",
            "termine_le (UTC)",
        ]
    return "\ufeff" + _write([header], delimiter)


EXPORT_COLUMNS = (
    "line_number",
    "party_id_type",
    "party_id_value",
    "name",
    "payee_name",
    "amount",
    "fee",
    "currency",
    "status",
    "transfer_id",
    "home_transaction_id",
    "error_code",
    "error_description",
    "completed_at",
    "errors",
    "warnings",
)
_STATUS_TEXT = {status.value: label for status, label in ROW_STATUS_LABELS.items()}


def csv_page(report: str, batch_id: int, after_line: int, delimiter: str = ",") -> tuple[str, int | None]:
    """One page of a report after `after_line`; returns its text and the next cursor (None at the end)."""
    batch = db.session.get(Batch, batch_id)
    # Plain tuples (no ORM objects): a 100 000-row export spends its time writing, not loading.
    table = BatchRow.__table__
    stmt = select(*(table.c[name] for name in EXPORT_COLUMNS)).where(
        table.c.batch_id == batch_id, table.c.line_number > after_line
    )
    if report == "errors":
        stmt = stmt.where(or_(table.c.errors.is_not(None), table.c.warnings.is_not(None)))
    rows = db.session.execute(stmt.order_by(table.c.line_number).limit(EXPORT_PAGE)).tuples().all()
    if not rows:
        return "", None
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if report == "errors":
        writer.writerows(line for row in rows for line in _error_lines(row, batch.currency))
    else:
        writer.writerows(_export_line(row, batch.currency) for row in rows)
    last = rows[-1][0]
    return buffer.getvalue(), (last if len(rows) == EXPORT_PAGE else None)


def _export_line(row: tuple, currency: str) -> list:
    (line, id_type, id_value, name, payee_name, amount, fee, row_currency, status, transfer_id, home_id) = row[:11]
    error_code, description, completed_at, errors = row[11:15]
    if not description and errors:
        description = " ; ".join(f"{e['field']} : {e['message']}" for e in errors)
    unit_currency = row_currency if row_currency in CURRENCIES else currency
    return [
        line,
        safe_cell(id_type),
        safe_cell(id_value),
        safe_cell(name),
        safe_cell(payee_name),
        plain_decimal(amount, unit_currency),
        plain_decimal(fee, unit_currency),
        safe_cell(row_currency),
        status,
        _STATUS_TEXT.get(status, status),
        transfer_id,
        safe_cell(home_id),
        safe_cell(error_code),
        safe_cell(description),
        completed_at.strftime("%Y-%m-%d %H:%M:%S") if completed_at else "",
    ]


def _error_lines(row: tuple, currency: str) -> list[list]:
    line, id_value, amount, row_currency, status = row[0], row[2], row[5], row[7], row[8]
    errors, warnings = row[14], row[15]
    amount_text = plain_decimal(amount, row_currency if row_currency in CURRENCIES else currency)
    label = _STATUS_TEXT.get(status, status)
    problems = [("erreur", e) for e in errors or []] + [("avertissement", w) for w in warnings or []]
    return [
        [line, kind, safe_cell(p["field"]), safe_cell(p["message"]), safe_cell(id_value), amount_text, label]
        for kind, p in problems
    ]
