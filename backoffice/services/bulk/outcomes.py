"""Writing a row's outcome and its ledger share: shared by sending, settlement and review.

A row reaches COMPLETED or FAILED only through `write_completed` / `write_failed`, and its
money moves only through `settle_ledger`, which each caller runs in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, DateTime, Integer, Text, bindparam, cast, column, func, select, update
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, ClauseElement

from backoffice.clients.mojaloop import Party
from backoffice.extensions import db
from backoffice.models import Account
from backoffice.models.batches import SETTLED_ROW_STATUSES, Batch, BatchRow, RowStatus
from backoffice.services import ledger
from backoffice.services.locale import plural
from backoffice.services.search import search_suffix

ROWS = BatchRow.__table__
# What a job needs of a row to pay or settle it (see row_work / RowWork).
WORK_COLUMNS = (
    ROWS.c.id,
    ROWS.c.transfer_id,
    ROWS.c.home_transaction_id,
    ROWS.c.party_id_type,
    ROWS.c.party_id_value,
    ROWS.c.amount,
    ROWS.c.currency,
    ROWS.c.note,
)
SETTLED = tuple(status.value for status in SETTLED_ROW_STATUSES)


@dataclass(frozen=True)
class BatchContext:
    """What every write of a batch's rows needs: who pays, from which account, which reference."""

    batch_id: int
    reference: str
    account_id: int
    payer: Party
    currency: str


@dataclass(frozen=True)
class RowWork:
    """One row to pay or to settle, read once from the database."""

    id: int
    transfer_id: str
    home_transaction_id: str
    party_id_type: str
    party_id_value: str
    amount: int
    currency: str
    note: str


def batch_context(batch_id: int) -> BatchContext:
    batch = db.session.get(Batch, batch_id)
    account: Account = batch.account
    payer = Party(account.party_id_type, account.party_id_value, batch.organisation.name, "BUSINESS")
    return BatchContext(batch.id, batch.reference, account.id, payer, batch.currency)


def row_work(r) -> RowWork:
    """A RowWork from a result row of WORK_COLUMNS."""
    return RowWork(
        r.id,
        r.transfer_id,
        r.home_transaction_id or f"{r.transfer_id}",
        r.party_id_type,
        r.party_id_value,
        int(r.amount),
        r.currency,
        r.note or "",
    )


def has_rows(batch_id: int, statuses) -> bool:
    """Whether any row of the batch is in one of `statuses`: one index probe (LIMIT 1), where
    status_counts would count the whole batch."""
    values = [status.value for status in statuses]
    found = select(ROWS.c.id).where(ROWS.c.batch_id == batch_id, ROWS.c.status.in_(values)).limit(1)
    return db.session.scalar(found) is not None


def status_counts(batch_id: int) -> dict[str, int]:
    """Rows by status: one indexed GROUP BY."""
    rows = db.session.execute(
        select(BatchRow.status, func.count()).where(BatchRow.batch_id == batch_id).group_by(BatchRow.status)
    ).all()
    return {status: int(count) for status, count in rows}


def completed_params(row_id: int, name: str | None, fsp: str | None, fee: int, now: datetime) -> dict:
    return {
        "b_id": row_id,
        "b_name": (name or None) and name[:200],
        "b_fsp": (fsp or None) and fsp[:64],
        "b_fee": int(fee or 0),
        "b_at": now,
        "b_search": search_suffix(name and name[:200]),
    }


def failed_params(row_id: int, code: str | None, description: str | None, name: str | None) -> dict:
    return {
        "b_id": row_id,
        "b_code": (code or "ERREUR")[:16],
        "b_description": (description or "Refusé sans description")[:500],
        "b_name": (name or None) and name[:200],
        "b_search": search_suffix(name and name[:200]),
    }


# What settling a final row needs of it (see settle_ledger / settle_rows).
SETTLE_COLUMNS = (ROWS.c.id, ROWS.c.status, ROWS.c.amount, ROWS.c.fee)


def write_held(params: list[dict], owner: str, from_status: RowStatus, settle: bool = False, **values) -> list | None:
    """UPDATE the rows `b_id` of `params` (each value may name a `bindparam("b_…")` of its row),
    applied only while this job still holds each in `from_status`: a row taken over by the
    sweep (lease lost) or already settled is left alone.

    On PostgreSQL one statement for the whole group, its rows passed as one array per column
    (UPDATE … FROM unnest(…)): one round trip, and a statement SQLAlchemy compiles once. With
    `settle` (rows made final), the same statement marks them settled and returns their
    SETTLE_COLUMNS, whose ledger share the caller writes with `settle_rows` in this
    transaction. Elsewhere an executemany, which returns None (and leaves `settled` alone)."""
    if not params:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        changed: list = []
        for start in range(0, len(params), 1000):
            statement, arrays = _update_from_arrays(
                params[start : start + 1000], owner, from_status, values | ({"settled": True} if settle else {})
            )
            if settle:
                changed += db.session.execute(statement.returning(*SETTLE_COLUMNS), arrays).all()
            else:
                db.session.execute(statement, arrays)
        return changed
    held = update(ROWS).where(
        ROWS.c.id == bindparam("b_id"), ROWS.c.lease_owner == owner, ROWS.c.status == from_status.value
    )
    db.session.execute(held.values(**values), params)
    return None


# The SQL type of each per-row parameter of write_held (its PostgreSQL array's element type).
PARAM_TYPES = {
    "b_id": BigInteger,
    "b_fee": BigInteger,
    "b_checks": Integer,
    "b_more": Integer,
    "b_score": Integer,
    "b_at": DateTime,
    "b_next": DateTime,
    "b_since": DateTime,
}


def _update_from_arrays(params: list[dict], owner: str, from_status: RowStatus, values: dict):
    return update_from_arrays(params, values, ROWS.c.lease_owner == owner, ROWS.c.status == from_status.value)


def update_from_arrays(params: list[dict], values: dict, *conditions):
    """PostgreSQL: (UPDATE batch_rows … FROM unnest(arrays) AS v WHERE id = v.b_id AND
    conditions, its parameters): one statement for a whole group of rows `b_id`, each value
    of `values` naming the `bindparam("b_…")` of its row."""
    keys = list(params[0])
    arrays = [cast(bindparam(f"arr_{key}"), ARRAY(PARAM_TYPES.get(key, Text)())) for key in keys]
    source = func.unnest(*arrays).table_valued(*(column(key) for key in keys)).render_derived(name="v")

    def from_source(element):
        if isinstance(element, BindParameter) and element.key in keys:
            return source.c[element.key]
        return None

    rewritten = {
        name: visitors.replacement_traverse(value, {}, from_source) if isinstance(value, ClauseElement) else value
        for name, value in values.items()
    }
    statement = (
        update(ROWS)
        .where(ROWS.c.id == source.c.b_id, *conditions)
        .values(**rewritten)
        .execution_options(synchronize_session=False)
    )
    return statement, {f"arr_{key}": [p[key] for p in params] for key in keys}


def write_completed(
    params: list[dict], owner: str, from_status: RowStatus, now: datetime, settle: bool = False
) -> list | None:
    """The rows paid. With `settle`, see write_held: their SETTLE_COLUMNS, or None (SQLite) and
    the caller settles them with settle_ledger."""
    return write_held(
        params,
        owner,
        from_status,
        settle=settle,
        status=RowStatus.COMPLETED.value,
        payee_name=func.coalesce(bindparam("b_name"), ROWS.c.payee_name),
        search_text=func.coalesce(ROWS.c.search_text + bindparam("b_search"), ROWS.c.search_text),
        payee_fsp_id=func.coalesce(bindparam("b_fsp"), ROWS.c.payee_fsp_id),
        fee=bindparam("b_fee"),
        completed_at=bindparam("b_at"),
        error_code=None,
        error_description=None,
        next_check_at=None,
        lease_owner=None,
        updated_at=now,
    )


def write_failed(
    params: list[dict], owner: str, from_status: RowStatus, now: datetime, settle: bool = False
) -> list | None:
    """The rows not paid; `settle` as for write_completed."""
    return write_held(
        params,
        owner,
        from_status,
        settle=settle,
        status=RowStatus.FAILED.value,
        error_code=bindparam("b_code"),
        error_description=bindparam("b_description"),
        payee_name=func.coalesce(bindparam("b_name"), ROWS.c.payee_name),
        search_text=func.coalesce(ROWS.c.search_text + bindparam("b_search"), ROWS.c.search_text),
        fee=0,
        next_check_at=None,
        lease_owner=None,
        updated_at=now,
    )


def settle_ledger(ctx: BatchContext, row_ids: list[int] | None = None) -> tuple[int, int]:
    """Write the ledger share of the batch's final rows not settled yet; the caller commits.

    The account row lock comes first, so settlements of one account are serialised and each
    final row is counted exactly once: one DEBIT (amount + fee of completed rows) and one
    RELEASE (amount of completed and failed rows), rows marked settled, and the batch's
    remaining reservation decreased, all in the caller's transaction.
    """
    ledger.lock_account(ctx.account_id)
    rows = _unsettled(ctx.batch_id, row_ids)
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 500):
        db.session.execute(update(ROWS).where(ROWS.c.id.in_(ids[start : start + 500])).values(settled=True))
    return _post(ctx, rows)


def settle_rows(ctx: BatchContext, rows: list) -> tuple[int, int]:
    """The ledger share of `rows` (SETTLE_COLUMNS), which the caller's UPDATE has just made
    final and marked settled in this transaction (write_completed / write_failed with
    `settle`): the same entries as settle_ledger, without reading or updating the rows again."""
    ledger.lock_account(ctx.account_id)
    return _post(ctx, rows)


def _post(ctx: BatchContext, rows: list) -> tuple[int, int]:
    """DEBIT and RELEASE for `rows`, under the account lock taken by the caller."""
    if not rows:
        return 0, 0
    debit_total = sum(int(r.amount) + int(r.fee or 0) for r in rows if r.status == RowStatus.COMPLETED.value)
    release_total = sum(int(r.amount) for r in rows)
    completed = sum(1 for r in rows if r.status == RowStatus.COMPLETED.value)
    reserved_left = db.session.scalar(select(Batch.reserved_amount).where(Batch.id == ctx.batch_id)) or 0
    release_total = min(release_total, int(reserved_left))
    failed = len(rows) - completed
    note = f"{completed} {plural(completed, 'payée', with_count=False)}, {failed} {plural(failed, 'échouée', with_count=False)}"
    if release_total > 0:
        ledger.release(ctx.account_id, release_total, ctx.reference, note=note)
    if debit_total > 0:
        ledger.debit(ctx.account_id, debit_total, ctx.reference, note=note)
    if release_total > 0:
        db.session.execute(
            update(Batch)
            .where(Batch.id == ctx.batch_id)
            .values(reserved_amount=Batch.reserved_amount - release_total)
            .execution_options(synchronize_session=False)
        )
    return debit_total, release_total


def _unsettled(batch_id: int, row_ids: list[int] | None) -> list:
    """The batch's final rows whose ledger share is not written yet (of `row_ids`, if given)."""
    where = [ROWS.c.batch_id == batch_id, ROWS.c.settled.is_(False), ROWS.c.status.in_(SETTLED)]
    columns = SETTLE_COLUMNS
    if row_ids is None:  # the whole batch (its end): a scan, once
        return list(db.session.execute(select(*columns).where(*where)).all())
    rows: list = []
    # The group just written: by primary key, so the cost does not grow with the batch.
    for start in range(0, len(row_ids), 500):
        rows += db.session.execute(select(*columns).where(*where, ROWS.c.id.in_(row_ids[start : start + 500]))).all()
    return rows
