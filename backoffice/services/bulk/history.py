"""What people read about batches: the history and its filters, a batch's figures, rows and timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import joinedload

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.batches import Batch, BatchEvent, BatchRow, BatchStatus, RowStatus
from backoffice.services import search
from backoffice.services.spreadsheets import Amount


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
    sort: str = "-date"  # a key of HISTORY_SORTS, "-" first for descending

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
            sort=checked_sort(args.get("sort", ""), HISTORY_SORTS, "-date"),
        )

    @property
    def active(self) -> bool:
        return any(
            (self.status, self.date_from, self.date_to, self.uploader, self.account, self.q)
            + (self.error_code, self.provider)
        )


def checked_sort(value: str, allowed: dict, default: str) -> str:
    """`amount`, `-amount` … when the key is allowed, else the default (a bad value is ignored)."""
    value = (value or "").strip()
    return value if value.lstrip("-") in allowed else default


def _ordering(sort: str, allowed: dict, tiebreak):
    column = allowed[sort.lstrip("-")]
    if sort.startswith("-"):
        return column.desc(), tiebreak.desc()
    return column.asc(), tiebreak.asc()


# Sortable columns of the history page and of a batch's rows (?sort=amount, ?sort=-amount).
HISTORY_SORTS = {
    "date": Batch.created_at,
    "reference": Batch.reference,
    "label": Batch.label,
    "status": Batch.status,
    "rows": Batch.row_count,
    "amount": Batch.total_amount,
}
ROW_SORTS = {
    "line": BatchRow.line_number,
    "name": BatchRow.name,
    "amount": BatchRow.amount,
    "fee": BatchRow.fee,
    "status": BatchRow.status,
}


def history_query(organisation_id: int, filters: HistoryFilters) -> Select:
    """The organisation's batches matching the filters, newest first unless sorted otherwise."""
    stmt = (
        select(Batch)
        .where(Batch.organisation_id == organisation_id)
        .options(joinedload(Batch.created_by), joinedload(Batch.account))
        .order_by(*_ordering(filters.sort, HISTORY_SORTS, Batch.id))
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
        stmt = stmt.where(or_(search.matches(Batch.label, filters.q), search.matches(Batch.reference, filters.q)))
    if filters.error_code:
        stmt = stmt.where(
            exists().where(and_(BatchRow.batch_id == Batch.id, BatchRow.error_code == filters.error_code))
        )
    if filters.provider:
        stmt = stmt.where(
            exists().where(and_(BatchRow.batch_id == Batch.id, BatchRow.payee_fsp_id == filters.provider))
        )
    return stmt


# Batches whose rows may have been paid; the others have no outcome to count.
PAID_STATUSES = {
    BatchStatus.APPROVED.value,
    BatchStatus.PROCESSING.value,
    BatchStatus.PAUSED.value,
    BatchStatus.CANCELLING.value,
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


def rows_query(batch: Batch, status: str = "", q: str = "", error_code: str = "", sort: str = "line") -> Select:
    """The batch's rows in file order (or `sort`), filtered by status, error code and a search."""
    sort = checked_sort(sort, ROW_SORTS, "line")
    stmt = select(BatchRow).where(BatchRow.batch_id == batch.id).order_by(*_ordering(sort, ROW_SORTS, BatchRow.id))
    if status in RowStatus.__members__:
        stmt = stmt.where(BatchRow.status == status)
    if error_code:
        # The dashboard's drill-down (3204 → the history → this batch's rows failed on 3204).
        stmt = stmt.where(BatchRow.error_code == error_code)
    q = q.strip()[:100]
    if q:
        # Within one batch, accents and case ignored: the identifier and both names were
        # folded once into search_text (at import and when the switch names the payee).
        stmt = stmt.where(BatchRow.search_text.like(search.pattern(q), escape="\\"))
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


def rows_page(
    batch: Batch,
    stats: BatchStatistics,
    status: str,
    q: str,
    page: int,
    per_page: int,
    error_code: str = "",
    sort: str = "line",
) -> RowsPage:
    """A page of rows without a COUNT over the batch: totals come from the statistics.

    A beneficiary search is not counted at all (it would scan the batch a second time);
    one extra row tells whether a next page exists.
    """
    page = max(1, page)
    stmt = rows_query(batch, status, q, error_code, sort).limit(per_page + 1).offset((page - 1) * per_page)
    items = list(db.session.scalars(stmt))
    if q.strip() or error_code:
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


def flagged_rows_query(batch: Batch) -> Select:
    """Rows still to be paid that the double-payment guard flagged, in file order."""
    return (
        select(BatchRow)
        .where(
            BatchRow.batch_id == batch.id,
            BatchRow.status == RowStatus.PENDING.value,
            BatchRow.already_paid.is_not(None),
        )
        .order_by(BatchRow.line_number)
    )


HISTORY_EXPORT_CHUNK = 500


def history_header(timezone_label: str) -> list[str]:
    """The history export's French headers (the zone of the dates named)."""
    return [
        "Référence",
        "Libellé",
        "État",
        "Compte payeur",
        "Déposé par",
        f"Déposé le, {timezone_label}",
        "Période payée",
        "Lignes",
        "Lignes payées",
        "Lignes échouées",
        "Montant total",
        "Devise",
    ]


def history_lines(organisation_id: int, filters: HistoryFilters):
    """The history as typed lines (services/spreadsheets.py), every filtered batch, in chunks."""
    stmt = history_query(organisation_id, filters)
    offset = 0
    while True:
        batches = list(db.session.scalars(stmt.limit(HISTORY_EXPORT_CHUNK).offset(offset)).unique())
        if not batches:
            return
        counts = outcome_counts(batches)
        for b in batches:
            yield [
                b.reference,
                b.label,
                b.status_label,
                b.account.account_id if b.account else "",
                b.created_by.full_name if b.created_by else "",
                b.created_at,
                b.payment_period,
                b.row_count,
                counts[b.id]["completed"],
                counts[b.id]["failed"],
                Amount(b.total_amount, b.currency),
                b.currency,
            ]
        offset += HISTORY_EXPORT_CHUNK
