"""Paying an approved batch's rows through the Mojaloop SDK adapter (chunks, leases, settlement).

A row's life (docs/bulk-payments.md): PENDING → SENDING → COMPLETED | FAILED | UNKNOWN, and UNKNOWN →
COMPLETED | FAILED | NEEDS_REVIEW through GET /transfers/{transferId}. The rules that keep
money safe:

- rows are claimed (one UPDATE to SENDING with a lease) and committed BEFORE any call;
- a 504 / timeout / lost connection is UNKNOWN and is settled by the status endpoint
  before anything is resent; "not found" is trusted only after a grace period, and a resend
  uses the same transferId (the switch refuses a duplicate);
- outcomes are written in groups, and each group's ledger entries (one DEBIT of amount +
  fee for the completed rows, one RELEASE of the settled rows' amounts) land in the same
  transaction as the rows, which are marked `settled`;
- a job keeps a lease alive in Redis while it holds rows; when a worker dies its lease
  expires and the sweep turns its SENDING rows into UNKNOWN, to be settled by status;
- the batch's final state is decided in one place, `finalise_if_done` (its status derived by
  `final_status`, which services/review.py also uses when a person decides a NEEDS_REVIEW row).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, func, select, update

from backoffice.clients.mojaloop import (
    MojaloopClient,
    Outcome,
    Party,
    StatusResult,
    TransferRequest,
    TransferResult,
    TransferState,
)
from backoffice.extensions import db
from backoffice.models import Account
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchEvent, BatchRow, BatchStatus, RowStatus
from backoffice.services import audit, ledger

log = logging.getLogger(__name__)

ACTIVE_ROW_STATUSES = (RowStatus.PENDING.value, RowStatus.SENDING.value, RowStatus.UNKNOWN.value)
LEASE_PREFIX = "backoffice:lease:"
CHUNKS_KEY = "backoffice:batch:{batch_id}:chunks"  # hash "first-last" → RQ job id
SETTLE_KEY = "backoffice:batch:{batch_id}:settle"  # RQ job id of the pending settle job
SWEEP_LOCK = "backoffice:sweep-lock"
JOB_TIMEOUT = 6 * 3600
APPROVED_START_GRACE_SECONDS = 60  # an APPROVED batch older than this was never started
ROWS = BatchRow.__table__
# What a job needs of a row to pay or settle it (see _work / RowWork).
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


# --- process-wide resources: the HTTP client, the thread pool, the lease keeper ---------

_resources_lock = threading.Lock()
_clients: dict[tuple, MojaloopClient] = {}
_pools: dict[int, ThreadPoolExecutor] = {}


def get_client() -> MojaloopClient:
    """One pooled client per process and configuration (thread-safe, connections reused)."""
    cfg = current_app.config
    key = (cfg["MOJALOOP_SDK_URL"], cfg["MOJALOOP_TIMEOUT_SECONDS"], cfg["MOJALOOP_AUTO_ACCEPT"], _concurrency())
    with _resources_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = MojaloopClient.from_config(cfg, pool_size=_concurrency())
        return client


def _pool() -> ThreadPoolExecutor:
    size = _concurrency()
    with _resources_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="mojaloop")
        return pool


def _concurrency() -> int:
    return max(1, int(current_app.config["BATCH_CONCURRENCY"]))


class LeaseKeeper:
    """Keeps the Redis lease keys of the jobs running in this process alive.

    A key lives BATCH_LEASE_SECONDS and is refreshed every third of that; when the process
    dies (kill -9) its keys expire and the sweep takes its rows over.
    """

    def __init__(self) -> None:
        self._owners: dict[str, tuple] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, owner: str, redis, seconds: float) -> None:
        redis.set(LEASE_PREFIX + owner, "1", px=int(seconds * 1000))
        with self._lock:
            self._owners[owner] = (redis, seconds)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._refresh, name="lease-keeper", daemon=True)
                self._thread.start()

    def drop(self, owner: str) -> None:
        with self._lock:
            held = self._owners.pop(owner, None)
        if held:
            held[0].delete(LEASE_PREFIX + owner)

    def _refresh(self) -> None:
        while True:
            with self._lock:
                owners = list(self._owners.items())
            interval = min((s for _, (_, s) in owners), default=3.0) / 3
            for owner, (redis, seconds) in owners:
                try:
                    redis.set(LEASE_PREFIX + owner, "1", px=int(seconds * 1000))
                except Exception:  # Redis hiccup: the next round retries
                    log.exception("lease refresh failed for %s", owner)
            time.sleep(max(interval, 0.2))


lease_keeper = LeaseKeeper()


def _redis():
    return current_app.get_queue().connection


def new_owner() -> str:
    """A lease owner name: the RQ job (if any), a nonce, the host and process."""
    from rq import get_current_job

    job = get_current_job()
    base = job.id if job is not None else "inline"
    return f"{base}.{uuid.uuid4().hex[:8]}@{socket.gethostname()[:40]}:{os.getpid()}"


def live_owners(owners: Iterable[str]) -> set[str]:
    owners = [o for o in owners if o]
    if not owners:
        return set()
    pipe = _redis().pipeline()
    for owner in owners:
        pipe.exists(LEASE_PREFIX + owner)
    return {owner for owner, alive in zip(owners, pipe.execute(), strict=True) if alive}


# --- starting a batch -----------------------------------------------------------------


def start_processing(batch_id: int) -> None:
    """Queue the processing of an approved batch; called after the approval is committed.

    Marks the batch PROCESSING (once: a second call does nothing) and enqueues one RQ job
    per chunk of BATCH_CHUNK_SIZE rows, so that any number of workers share the batch.
    """
    now = utcnow()
    started = db.session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == BatchStatus.APPROVED.value)
        .values(status=BatchStatus.PROCESSING.value, processing_started_at=now)
    ).rowcount
    if started != 1:
        db.session.rollback()
        log.info("batch %s is not APPROVED: processing not started", batch_id)
        return
    batch = db.session.get(Batch, batch_id, populate_existing=True)
    ranges = chunk_ranges(batch_id)
    pending = _count_pending(batch_id)
    db.session.add(
        BatchEvent(
            batch_id=batch_id,
            action="processing_started",
            message=f"Paiement démarré : {pending} ligne(s) à payer, en {len(ranges)} lot(s).",
            details={"rows": pending, "chunks": len(ranges)},
        )
    )
    audit.record(None, "batch.processing_started", batch, rows=pending, chunks=len(ranges))
    db.session.commit()
    if ranges:
        enqueue_chunks(batch_id, ranges)
    else:
        finalise_if_done(batch_id)


def _count_pending(batch_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(BatchRow.batch_id == batch_id, BatchRow.status == RowStatus.PENDING.value)
    )


def chunk_ranges(batch_id: int, size: int | None = None) -> list[tuple[int, int]]:
    """The batch's PENDING rows cut into id ranges of `size` rows, computed by the database."""
    size = size or int(current_app.config["BATCH_CHUNK_SIZE"])
    numbered = (
        select(
            BatchRow.id.label("row_id"),
            ((func.row_number().over(order_by=BatchRow.id) - 1) // size).label("grp"),
        )
        .where(BatchRow.batch_id == batch_id, BatchRow.status == RowStatus.PENDING.value)
        .subquery()
    )
    rows = db.session.execute(
        select(func.min(numbered.c.row_id), func.max(numbered.c.row_id))
        .group_by(numbered.c.grp)
        .order_by(func.min(numbered.c.row_id))
    ).all()
    return [(int(first), int(last)) for first, last in rows]


def enqueue_chunks(batch_id: int, ranges: list[tuple[int, int]]) -> list[str]:
    """One RQ job per chunk, in one Redis round trip per 500 chunks.

    The chunk → job map kept in Redis lets the sweep find chunks whose job was lost.
    """
    from rq import Queue

    queue = current_app.get_queue()
    key = CHUNKS_KEY.format(batch_id=batch_id)
    ids: list[str] = []
    for start in range(0, len(ranges), 500):
        part = ranges[start : start + 500]
        datas = [
            Queue.prepare_data(
                "backoffice.jobs.batches.process_chunk",
                args=(batch_id, first, last),
                timeout=JOB_TIMEOUT,
                result_ttl=3600,
                failure_ttl=7 * 86400,
                description=f"batch {batch_id} rows {first}-{last}",
            )
            for first, last in part
        ]
        with queue.connection.pipeline() as pipe:
            jobs = queue.enqueue_many(datas, pipeline=pipe)
            pipe.hset(key, mapping={f"{first}-{last}": job.id for (first, last), job in zip(part, jobs, strict=True)})
            pipe.expire(key, 30 * 86400)
            pipe.execute()
        ids += [job.id for job in jobs]
    return ids


# --- one chunk ------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchContext:
    batch_id: int
    reference: str
    account_id: int
    payer: Party
    currency: str


@dataclass(frozen=True)
class RowWork:
    id: int
    transfer_id: str
    home_transaction_id: str
    party_id_type: str
    party_id_value: str
    amount: int
    currency: str
    note: str


def _context(batch_id: int) -> BatchContext:
    batch = db.session.get(Batch, batch_id)
    account: Account = batch.account
    payer = Party(account.party_id_type, account.party_id_value, batch.organisation.name, "BUSINESS")
    return BatchContext(batch.id, batch.reference, account.id, payer, batch.currency)


def process_chunk(batch_id: int, first_id: int, last_id: int) -> dict:
    """Pay the PENDING rows of one chunk; settle its unknown outcomes; maybe end the batch."""
    cfg = current_app.config
    counts: dict[str, int] = {}
    with _job_lease(batch_id) as owner:
        ctx = _context(batch_id)
        rows = claim_pending(batch_id, first_id, last_id, owner)
        if rows:
            counts = pay_rows(ctx, rows, owner)
        deadline = time.monotonic() + float(cfg["BATCH_SETTLE_INLINE_SECONDS"])
        settle_unknown(ctx, owner, deadline, (first_id, last_id))
    return counts


@contextmanager
def _job_lease(batch_id: int) -> Iterator[str]:
    """The life of one job's lease: held (and kept alive) while the body runs; on any error
    its rows are given up to the sweep; released either way; then the batch may be ending."""
    owner = new_owner()
    lease_keeper.hold(owner, _redis(), float(current_app.config["BATCH_LEASE_SECONDS"]))
    _note_owner(owner)
    try:
        yield owner
    except BaseException:
        db.session.rollback()
        _give_up_rows(owner)
        raise
    finally:
        _release_lease(owner)
        lease_keeper.drop(owner)
    finalise_if_done(batch_id)


def _note_owner(owner: str) -> None:
    """Remember the lease owner on the RQ job so the sweep can tell if the job is alive."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta["owner"] = owner
        job.save_meta()


def claim_pending(batch_id: int, first_id: int, last_id: int, owner: str) -> list[RowWork]:
    """Mark the chunk's PENDING rows SENDING under our lease, in one UPDATE, committed now."""
    now = utcnow()
    claimed = db.session.execute(
        update(ROWS)
        .where(
            ROWS.c.batch_id == batch_id,
            ROWS.c.id.between(first_id, last_id),
            ROWS.c.status == RowStatus.PENDING.value,
        )
        .values(
            status=RowStatus.SENDING.value,
            sending_since=now,
            lease_owner=owner,
            attempts=ROWS.c.attempts + 1,
            updated_at=now,
        )
        .returning(*WORK_COLUMNS, ROWS.c.line_number)
    ).all()
    db.session.commit()
    return [_work(r) for r in sorted(claimed, key=lambda r: r.id)]


def _work(r) -> RowWork:
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


def pay_rows(ctx: BatchContext, rows: list[RowWork], owner: str) -> dict[str, int]:
    """Send the rows concurrently; write their outcomes (and ledger) in groups."""
    cfg = current_app.config
    client = get_client()
    pool = _pool()
    flush_rows = int(cfg["BATCH_FLUSH_ROWS"])
    flush_seconds = float(cfg["BATCH_FLUSH_SECONDS"])
    futures: dict[Future, RowWork] = {}
    for row in rows:
        request = TransferRequest(
            transfer_id=row.transfer_id,
            home_transaction_id=row.home_transaction_id,
            payer=ctx.payer,
            payee=Party(row.party_id_type, row.party_id_value),
            amount=row.amount,
            currency=row.currency or ctx.currency,
            note=row.note,
        )
        futures[pool.submit(client.transfer, request)] = row
    counts: dict[str, int] = {}
    done_results: list[tuple[RowWork, TransferResult]] = []
    last_flush = time.monotonic()
    finished_queue: queue.SimpleQueue[Future] = queue.SimpleQueue()
    for future in futures:
        future.add_done_callback(finished_queue.put)
    remaining = len(futures)
    try:
        while remaining:
            try:
                finished = [finished_queue.get(timeout=flush_seconds)]
            except queue.Empty:
                finished = []
            for future in finished:
                remaining -= 1
                row = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # a bug in the client: the call may have gone out
                    log.exception("transfer %s raised", row.transfer_id)
                    result = TransferResult(Outcome.UNKNOWN, row.transfer_id, detail=f"client error: {exc!r}"[:200])
                done_results.append((row, result))
                counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
            if done_results and (len(done_results) >= flush_rows or time.monotonic() - last_flush >= flush_seconds):
                record_outcomes(ctx, done_results, owner)
                done_results = []
                last_flush = time.monotonic()
    except BaseException:
        # Never leave a call of ours in flight behind rows we give up: calls not started
        # are cancelled, running ones are waited for (bounded by the client's timeout).
        for future in futures:
            future.cancel()
        wait(list(futures), timeout=client.timeout + 5)
        raise
    if done_results:
        record_outcomes(ctx, done_results, owner)
    return counts


def record_outcomes(ctx: BatchContext, results: list[tuple[RowWork, TransferResult]], owner: str) -> None:
    """Write a group of outcomes and its ledger entries in one transaction."""
    cfg = current_app.config
    now = utcnow()
    first_check = now + timedelta(seconds=float(cfg["BATCH_STATUS_BACKOFF_SECONDS"]))
    completed, failed, unknown = [], [], []
    for row, result in results:
        if result.outcome == Outcome.COMPLETED:
            completed.append(_completed_params(row.id, result.payee_name, result.payee_fsp_id, result.fee, now))
        elif result.outcome == Outcome.FAILED:
            failed.append(_failed_params(row.id, result.error_code, result.error_description, result.payee_name))
        else:
            unknown.append(
                {
                    "b_id": row.id,
                    "b_description": f"Issue inconnue ({result.detail or 'sans réponse'}) : vérification auprès du switch."[
                        :500
                    ],
                    "b_next": first_check,
                }
            )
    _write_completed(completed, owner, RowStatus.SENDING, now)
    _write_failed(failed, owner, RowStatus.SENDING, now)
    if unknown:
        db.session.execute(
            update(ROWS)
            .where(
                ROWS.c.id == bindparam("b_id"), ROWS.c.lease_owner == owner, ROWS.c.status == RowStatus.SENDING.value
            )
            .values(
                status=RowStatus.UNKNOWN.value,
                error_code=None,
                error_description=bindparam("b_description"),
                next_check_at=bindparam("b_next"),
                updated_at=now,
            ),
            unknown,
        )
    settle_ledger(ctx, [row.id for row, _ in results])
    db.session.commit()


def _completed_params(row_id: int, name: str | None, fsp: str | None, fee: int, now: datetime) -> dict:
    return {
        "b_id": row_id,
        "b_name": (name or None) and name[:200],
        "b_fsp": (fsp or None) and fsp[:64],
        "b_fee": int(fee or 0),
        "b_at": now,
    }


def _failed_params(row_id: int, code: str | None, description: str | None, name: str | None) -> dict:
    return {
        "b_id": row_id,
        "b_code": (code or "ERREUR")[:16],
        "b_description": (description or "Refusé sans description")[:500],
        "b_name": (name or None) and name[:200],
    }


def _update_held_row(owner: str, status: RowStatus):
    """An executemany UPDATE of the row `b_id`, applied only while this job still holds it in
    `status`: a row taken over by the sweep (lease lost) or already settled is left alone."""
    return update(ROWS).where(
        ROWS.c.id == bindparam("b_id"), ROWS.c.lease_owner == owner, ROWS.c.status == status.value
    )


def _write_completed(params: list[dict], owner: str, from_status: RowStatus, now: datetime) -> None:
    if not params:
        return
    db.session.execute(
        _update_held_row(owner, from_status).values(
            status=RowStatus.COMPLETED.value,
            payee_name=func.coalesce(bindparam("b_name"), ROWS.c.payee_name),
            payee_fsp_id=func.coalesce(bindparam("b_fsp"), ROWS.c.payee_fsp_id),
            fee=bindparam("b_fee"),
            completed_at=bindparam("b_at"),
            error_code=None,
            error_description=None,
            next_check_at=None,
            lease_owner=None,
            updated_at=now,
        ),
        params,
    )


def _write_failed(params: list[dict], owner: str, from_status: RowStatus, now: datetime) -> None:
    if not params:
        return
    db.session.execute(
        _update_held_row(owner, from_status).values(
            status=RowStatus.FAILED.value,
            error_code=bindparam("b_code"),
            error_description=bindparam("b_description"),
            payee_name=func.coalesce(bindparam("b_name"), ROWS.c.payee_name),
            fee=0,
            next_check_at=None,
            lease_owner=None,
            updated_at=now,
        ),
        params,
    )


def settle_ledger(ctx: BatchContext, row_ids: list[int] | None = None) -> tuple[int, int]:
    """Write the ledger share of the batch's final rows not settled yet; the caller commits.

    The account row lock comes first, so settlements of one account are serialised and each
    final row is counted exactly once: one DEBIT (amount + fee of completed rows) and one
    RELEASE (amount of completed and failed rows), rows marked settled, and the batch's
    remaining reservation decreased, all in the caller's transaction.
    """
    ledger.lock_account(ctx.account_id)
    where = [
        ROWS.c.batch_id == ctx.batch_id,
        ROWS.c.settled.is_(False),
        ROWS.c.status.in_((RowStatus.COMPLETED.value, RowStatus.FAILED.value)),
    ]
    rows = []
    if row_ids is None:  # the whole batch (its end): a scan, once
        rows = db.session.execute(select(ROWS.c.id, ROWS.c.status, ROWS.c.amount, ROWS.c.fee).where(*where)).all()
    else:  # the group just written: by primary key, so the cost does not grow with the batch
        for start in range(0, len(row_ids), 500):
            rows += db.session.execute(
                select(ROWS.c.id, ROWS.c.status, ROWS.c.amount, ROWS.c.fee).where(
                    *where, ROWS.c.id.in_(row_ids[start : start + 500])
                )
            ).all()
    if not rows:
        return 0, 0
    debit_total = sum(int(r.amount) + int(r.fee or 0) for r in rows if r.status == RowStatus.COMPLETED.value)
    release_total = sum(int(r.amount) for r in rows)
    completed = sum(1 for r in rows if r.status == RowStatus.COMPLETED.value)
    reserved_left = db.session.scalar(select(Batch.reserved_amount).where(Batch.id == ctx.batch_id)) or 0
    release_total = min(release_total, int(reserved_left))
    note = f"{completed} payée(s), {len(rows) - completed} échouée(s)"
    if release_total > 0:
        ledger.release(ctx.account_id, release_total, ctx.reference, note=note)
    if debit_total > 0:
        ledger.debit(ctx.account_id, debit_total, ctx.reference, note=note)
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 500):
        db.session.execute(update(ROWS).where(ROWS.c.id.in_(ids[start : start + 500])).values(settled=True))
    if release_total > 0:
        db.session.execute(
            update(Batch)
            .where(Batch.id == ctx.batch_id)
            .values(reserved_amount=Batch.reserved_amount - release_total)
            .execution_options(synchronize_session=False)
        )
    return debit_total, release_total


# --- unknown outcomes -----------------------------------------------------------------


def _backoff(checks: int) -> float:
    cfg = current_app.config
    base = float(cfg["BATCH_STATUS_BACKOFF_SECONDS"])
    return min(base * 2 ** max(checks - 1, 0), float(cfg["BATCH_STATUS_BACKOFF_MAX_SECONDS"]))


def _check_status(
    client: MojaloopClient, transfer_id: str, id_type: str, id_value: str
) -> tuple[StatusResult, str | None]:
    """Status check; for a committed transfer also the payee's name (the status has none)."""
    status = client.transfer_status(transfer_id)
    name = None
    if status.state == TransferState.COMMITTED:
        party = client.lookup_party(id_type, id_value)
        name = party.name
    return status, name


def settle_unknown(ctx: BatchContext, owner: str, deadline: float, id_range: tuple[int, int] | None = None) -> None:
    """Settle the UNKNOWN rows we hold through GET /transfers/{id} until `deadline`.

    COMMITTED → COMPLETED, ABORTED → FAILED, still pending → next check with backoff,
    "not found" long enough after the last send → resend with the same transferId; when the
    budget (checks or attempts) is spent → NEEDS_REVIEW. Rows still UNKNOWN at the deadline
    are left (lease released by the caller) to a later settle job.
    """
    cfg = current_app.config
    budget = int(cfg["BATCH_STATUS_CHECK_BUDGET"])
    grace = timedelta(seconds=float(cfg["BATCH_RESEND_GRACE_SECONDS"]))
    max_attempts = int(cfg["BATCH_MAX_ATTEMPTS"])
    client = get_client()
    pool = _pool()
    while True:
        where = [
            ROWS.c.batch_id == ctx.batch_id,
            ROWS.c.status == RowStatus.UNKNOWN.value,
            ROWS.c.lease_owner == owner,
        ]
        if id_range:
            where.append(ROWS.c.id.between(*id_range))
        held = db.session.execute(
            select(
                *WORK_COLUMNS,
                ROWS.c.next_check_at,
                ROWS.c.sending_since,
                ROWS.c.status_checks,
                ROWS.c.attempts,
            ).where(*where)
        ).all()
        db.session.commit()
        if not held:
            return
        now = utcnow()
        due = [r for r in held if r.next_check_at is None or r.next_check_at <= now]
        if not due:
            wake = min(r.next_check_at for r in held)
            wait_seconds = (wake - now).total_seconds()
            if time.monotonic() + wait_seconds > deadline:
                return
            time.sleep(max(wait_seconds, 0.05))
            continue
        if time.monotonic() > deadline:
            return
        futures = {pool.submit(_check_status, client, r.transfer_id, r.party_id_type, r.party_id_value): r for r in due}
        wait(futures)
        now = utcnow()
        completed, failed, later, review, resend = [], [], [], [], []
        for future, r in futures.items():
            try:
                status, name = future.result()
            except Exception as exc:  # pragma: no cover - the client does not raise
                status, name = StatusResult(TransferState.UNREACHABLE, r.transfer_id, detail=repr(exc)), None
            checks = (r.status_checks or 0) + 1
            if status.state == TransferState.COMMITTED:
                completed.append(_completed_params(r.id, name, None, 0, now) | {"b_checks": checks})
            elif status.state == TransferState.ABORTED:
                failed.append(
                    _failed_params(
                        r.id,
                        status.error_code or "ABORTED",
                        status.error_description or "Transfert annulé par le switch (ABORTED).",
                        None,
                    )
                    | {"b_checks": checks}
                )
            elif status.state == TransferState.NOT_FOUND and r.sending_since and now - r.sending_since >= grace:
                if (r.attempts or 0) >= max_attempts:
                    review.append(_review_params(r.id, checks, "Introuvable après plusieurs envois : à vérifier."))
                else:
                    resend.append((r, checks))
            elif checks >= budget:
                review.append(
                    _review_params(r.id, checks, f"Issue toujours inconnue après {checks} vérifications : à vérifier.")
                )
            else:
                next_at = now + timedelta(seconds=_backoff(checks))
                if status.state == TransferState.NOT_FOUND and r.sending_since:
                    next_at = max(next_at, r.sending_since + grace)
                later.append({"b_id": r.id, "b_checks": checks, "b_next": next_at})
        _write_settlement(ctx, owner, completed, failed, later, review, resend, now)
        if resend:
            pay_rows(ctx, [_work(r) for r, _ in resend], owner)


def _review_params(row_id: int, checks: int, message: str) -> dict:
    return {"b_id": row_id, "b_checks": checks, "b_description": message}


def _write_settlement(ctx, owner, completed, failed, later, review, resend, now) -> None:
    """One transaction for a round of status checks (rows, ledger, resend claims)."""
    unknown = RowStatus.UNKNOWN
    # Counting the check goes first: it also takes SQLite's write lock before the ledger reads.
    counted = [{"b_id": p["b_id"], "b_checks": p["b_checks"]} for p in completed + failed]
    if counted:
        db.session.execute(
            _update_held_row(owner, unknown).values(status_checks=bindparam("b_checks")),
            counted,
        )
    _write_completed([{k: v for k, v in p.items() if k != "b_checks"} for p in completed], owner, unknown, now)
    _write_failed([{k: v for k, v in p.items() if k != "b_checks"} for p in failed], owner, unknown, now)
    if later:
        db.session.execute(
            _update_held_row(owner, unknown).values(
                status_checks=bindparam("b_checks"), next_check_at=bindparam("b_next"), updated_at=now
            ),
            later,
        )
    if review:
        db.session.execute(
            _update_held_row(owner, unknown).values(
                status=RowStatus.NEEDS_REVIEW.value,
                status_checks=bindparam("b_checks"),
                error_description=bindparam("b_description"),
                next_check_at=None,
                lease_owner=None,
                updated_at=now,
            ),
            review,
        )
    if resend:
        # Saved before the resend, like the first send: SENDING again, same transferId.
        db.session.execute(
            _update_held_row(owner, unknown).values(
                status=RowStatus.SENDING.value,
                status_checks=bindparam("b_checks"),
                sending_since=now,
                attempts=ROWS.c.attempts + 1,
                next_check_at=None,
                updated_at=now,
            ),
            [{"b_id": r.id, "b_checks": checks} for r, checks in resend],
        )
    if completed or failed:
        settle_ledger(ctx, [p["b_id"] for p in completed + failed])
    db.session.commit()


def _give_up_rows(owner: str) -> None:
    """After a crash inside a job: rows we were sending have an unknown outcome."""
    try:
        now = utcnow()
        db.session.execute(
            update(ROWS)
            .where(ROWS.c.lease_owner == owner, ROWS.c.status == RowStatus.SENDING.value)
            .values(status=RowStatus.UNKNOWN.value, next_check_at=now, updated_at=now)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not mark the rows of %s unknown (the sweep will)", owner)


def _release_lease(owner: str) -> None:
    """Let go of the UNKNOWN rows we still hold, so that a settle job can claim them."""
    try:
        db.session.execute(
            update(ROWS)
            .where(ROWS.c.lease_owner == owner, ROWS.c.status == RowStatus.UNKNOWN.value)
            .values(lease_owner=None)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not release the lease of %s (it expires)", owner)


def settle_batch(batch_id: int) -> None:
    """Settle a batch's UNKNOWN rows that no job holds (queued by the sweep)."""
    cfg = current_app.config
    with _job_lease(batch_id) as owner:
        now = utcnow()
        db.session.execute(
            update(ROWS)
            .where(
                ROWS.c.batch_id == batch_id,
                ROWS.c.status == RowStatus.UNKNOWN.value,
                ROWS.c.lease_owner.is_(None),
            )
            .values(lease_owner=owner, updated_at=now)
        )
        db.session.commit()
        ctx = _context(batch_id)
        settle_unknown(ctx, owner, time.monotonic() + float(cfg["BATCH_SETTLE_INLINE_SECONDS"]))


# --- the end of a batch ---------------------------------------------------------------


def status_counts(batch_id: int) -> dict[str, int]:
    """Rows by status: one indexed GROUP BY."""
    rows = db.session.execute(
        select(BatchRow.status, func.count()).where(BatchRow.batch_id == batch_id).group_by(BatchRow.status)
    ).all()
    return {status: int(count) for status, count in rows}


def final_status(counts: dict[str, int]) -> BatchStatus | None:
    """The batch state derived from its rows' counts (None while rows are still moving)."""
    if any(counts.get(s, 0) for s in ACTIVE_ROW_STATUSES):
        return None
    completed = counts.get(RowStatus.COMPLETED.value, 0)
    others = counts.get(RowStatus.FAILED.value, 0) + counts.get(RowStatus.NEEDS_REVIEW.value, 0)
    if completed and not others:
        return BatchStatus.COMPLETED
    if not completed:
        return BatchStatus.FAILED
    return BatchStatus.PARTIALLY_COMPLETED


def release_beyond_review(ctx: BatchContext) -> tuple[int, int]:
    """Release what a final batch still reserves beyond its NEEDS_REVIEW rows' share.

    Returns (released, still reserved for review). The caller holds the account lock and
    commits; used at the end of a batch and when a person decides a NEEDS_REVIEW row.
    """
    batch_id = ctx.batch_id
    review_amount = int(
        db.session.scalar(
            select(func.coalesce(func.sum(BatchRow.amount), 0)).where(
                BatchRow.batch_id == batch_id, BatchRow.status == RowStatus.NEEDS_REVIEW.value
            )
        )
        or 0
    )
    left = int(db.session.scalar(select(Batch.reserved_amount).where(Batch.id == batch_id)) or 0)
    extra = left - review_amount
    if extra > 0:
        ledger.release(ctx.account_id, extra, ctx.reference, note="Solde de la réservation du lot")
        db.session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(reserved_amount=Batch.reserved_amount - extra)
            .execution_options(synchronize_session=False)
        )
    return max(extra, 0), review_amount


def finalise_if_done(batch_id: int) -> bool:
    """End the batch when no row is PENDING/SENDING/UNKNOWN: the one place that does it.

    Releases what is left of the reservation except the share of NEEDS_REVIEW rows, which
    stays reserved until a person decides (their payment may have gone through).
    """
    counts = status_counts(batch_id)
    db.session.commit()
    final = final_status(counts)
    if final is None:
        return False
    batch = db.session.get(Batch, batch_id)
    if batch is None or batch.status != BatchStatus.PROCESSING.value:
        return False
    ctx = _context(batch_id)
    now = utcnow()
    # Account first, then batch: the order every ledger settlement takes (no deadlock).
    ledger.lock_account(ctx.account_id)
    # The conditional UPDATE makes the end happen once even when two jobs get here together.
    won = db.session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == BatchStatus.PROCESSING.value)
        .values(status=final.value, completed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        db.session.rollback()
        return False
    settle_ledger(ctx)  # normally a no-op: every final row was settled with its group
    extra, review_amount = release_beyond_review(ctx)
    amounts = dict(
        db.session.execute(
            select(BatchRow.status, func.coalesce(func.sum(BatchRow.amount), 0))
            .where(BatchRow.batch_id == batch_id)
            .group_by(BatchRow.status)
        ).all()
    )
    completed = counts.get(RowStatus.COMPLETED.value, 0)
    failed = counts.get(RowStatus.FAILED.value, 0)
    review = counts.get(RowStatus.NEEDS_REVIEW.value, 0)
    message = f"Paiement terminé : {completed} payée(s), {failed} échouée(s)"
    if review:
        message += f", {review} à vérifier (leur montant reste réservé)"
    details = {
        "completed": completed,
        "failed": failed,
        "needs_review": review,
        "skipped": counts.get(RowStatus.SKIPPED.value, 0),
        "completed_amount": int(amounts.get(RowStatus.COMPLETED.value, 0) or 0),
        "released_at_end": max(extra, 0),
        "still_reserved": review_amount,
    }
    db.session.add(BatchEvent(batch_id=batch_id, action="processing_finished", message=message + ".", details=details))
    batch = db.session.get(Batch, batch_id, populate_existing=True)
    audit.record(None, "batch.finished", batch, status=final.value, **details)
    db.session.commit()
    log.info("batch %s finished: %s %s", batch_id, final.value, details)
    try:
        from backoffice.services import notifications

        notifications.batch_finished(batch_id)
    except Exception:  # the batch is finished; a mail problem must not undo that
        log.exception("notification of batch %s failed", batch_id)
    return True


# --- the sweep ------------------------------------------------------------------------


def _job_alive(job_id: str | None) -> bool:
    """Whether an RQ job is waiting to run, or running under a live lease."""
    if not job_id:
        return False
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        job = Job.fetch(job_id, connection=_redis())
        status = job.get_status()
    except NoSuchJobError:
        return False
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED):
        return True
    if status == JobStatus.STARTED:
        owner = job.meta.get("owner")
        if owner:
            return bool(live_owners([owner]))
        started = job.started_at
        grace = float(current_app.config["BATCH_LEASE_SECONDS"])
        return started is None or (time.time() - started.timestamp()) < grace
    return False


def sweep() -> dict[str, int]:
    """Take over what dead workers held and re-queue what no live worker holds.

    - SENDING rows whose lease expired → UNKNOWN (settled by status before any resend);
    - UNKNOWN rows held by a dead lease → free, and a settle job is queued for them;
    - PENDING rows of a chunk whose job is gone → the chunk is queued again;
    - a batch with nothing left moving is finalised.
    Safe to run from several processes at once (a Redis lock keeps it to one at a time).
    """
    cfg = current_app.config
    redis = _redis()
    if not redis.set(SWEEP_LOCK, os.getpid(), nx=True, px=int(max(float(cfg["BATCH_SWEEP_SECONDS"]), 5) * 1000)):
        return {}
    report = {"taken_over": 0, "chunks_requeued": 0, "settle_jobs": 0, "finalised": 0, "started": 0}
    try:
        now = utcnow()
        owners = db.session.scalars(
            select(ROWS.c.lease_owner)
            .where(
                ROWS.c.status.in_((RowStatus.SENDING.value, RowStatus.UNKNOWN.value)),
                ROWS.c.lease_owner.is_not(None),
            )
            .distinct()
        ).all()
        dead = sorted(set(owners) - live_owners(owners))
        if dead:
            report["taken_over"] = db.session.execute(
                update(ROWS)
                .where(ROWS.c.status == RowStatus.SENDING.value, ROWS.c.lease_owner.in_(dead))
                .values(
                    status=RowStatus.UNKNOWN.value,
                    lease_owner=None,
                    next_check_at=now,
                    error_description="Traitement interrompu pendant l'envoi : vérification auprès du switch.",
                    updated_at=now,
                )
            ).rowcount
            db.session.execute(
                update(ROWS)
                .where(ROWS.c.status == RowStatus.UNKNOWN.value, ROWS.c.lease_owner.in_(dead))
                .values(lease_owner=None)
            )
        # A SENDING row without any owner cannot be live work either.
        report["taken_over"] += db.session.execute(
            update(ROWS)
            .where(ROWS.c.status == RowStatus.SENDING.value, ROWS.c.lease_owner.is_(None))
            .values(status=RowStatus.UNKNOWN.value, next_check_at=now, updated_at=now)
        ).rowcount
        db.session.commit()
        if report["taken_over"]:
            log.warning("sweep: %s row(s) of dead jobs are now UNKNOWN", report["taken_over"])

        # An approval committed but whose start was lost (the web process died in between).
        stale = now - timedelta(seconds=APPROVED_START_GRACE_SECONDS)
        approved = db.session.scalars(
            select(Batch.id).where(
                Batch.status == BatchStatus.APPROVED.value,
                func.coalesce(Batch.approved_at, Batch.created_at) < stale,
            )
        ).all()
        db.session.commit()
        for batch_id in approved:
            log.warning("sweep: batch %s approved but not started: starting it", batch_id)
            start_processing(batch_id)
            report["started"] += 1

        batch_ids = db.session.scalars(select(Batch.id).where(Batch.status == BatchStatus.PROCESSING.value)).all()
        db.session.commit()
        for batch_id in batch_ids:
            counts = status_counts(batch_id)
            db.session.commit()
            if counts.get(RowStatus.PENDING.value):
                report["chunks_requeued"] += _requeue_lost_chunks(batch_id)
            if counts.get(RowStatus.UNKNOWN.value) and _settle_needed(batch_id):
                report["settle_jobs"] += _queue_settle(batch_id)
            if final_status(counts) is not None and finalise_if_done(batch_id):
                report["finalised"] += 1
    finally:
        db.session.rollback()
        redis.delete(SWEEP_LOCK)
    return report


def _requeue_lost_chunks(batch_id: int) -> int:
    key = CHUNKS_KEY.format(batch_id=batch_id)
    known = {k.decode(): v.decode() for k, v in _redis().hgetall(key).items()}
    lost = []
    for first, last in chunk_ranges(batch_id):
        holder = next(
            (job for span, job in known.items() if _span(span)[0] <= first and last <= _span(span)[1]),
            None,
        )
        if not _job_alive(holder):
            lost.append((first, last))
    db.session.commit()
    if lost:
        log.warning("sweep: batch %s, %s chunk(s) without a live job are queued again", batch_id, len(lost))
        enqueue_chunks(batch_id, lost)
    return len(lost)


def _span(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last)


def _settle_needed(batch_id: int) -> bool:
    """UNKNOWN rows that no job holds."""
    free = db.session.scalar(
        select(func.count()).where(
            ROWS.c.batch_id == batch_id,
            ROWS.c.status == RowStatus.UNKNOWN.value,
            ROWS.c.lease_owner.is_(None),
        )
    )
    db.session.commit()
    return bool(free)


def _queue_settle(batch_id: int) -> int:
    redis = _redis()
    key = SETTLE_KEY.format(batch_id=batch_id)
    current = redis.get(key)
    if current and _job_alive(current.decode()):
        return 0
    job = current_app.get_queue().enqueue_call(
        "backoffice.jobs.batches.settle_batch",
        args=(batch_id,),
        timeout=JOB_TIMEOUT,
        result_ttl=3600,
        failure_ttl=7 * 86400,
        description=f"settle batch {batch_id}",
    )
    redis.set(key, job.id, ex=7 * 86400)
    return 1


def progress(batch: Batch) -> dict:
    """Figures for the live progress fragment: counts, share done, throughput, time left."""
    counts = status_counts(batch.id)
    total = sum(v for k, v in counts.items() if k not in (RowStatus.INVALID.value, RowStatus.SKIPPED.value))
    completed = counts.get(RowStatus.COMPLETED.value, 0)
    failed = counts.get(RowStatus.FAILED.value, 0)
    review = counts.get(RowStatus.NEEDS_REVIEW.value, 0)
    unknown = counts.get(RowStatus.UNKNOWN.value, 0)
    sending = counts.get(RowStatus.SENDING.value, 0)
    pending = counts.get(RowStatus.PENDING.value, 0)
    done = completed + failed + review
    rate = None
    seconds_left = None
    if batch.processing_started_at and done:
        end = batch.completed_at or utcnow()
        elapsed = max((end - batch.processing_started_at).total_seconds(), 0.001)
        rate = done / elapsed
        if not batch.is_final and rate > 0:
            seconds_left = math.ceil((total - done) / rate)
    return {
        "counts": counts,
        "total": total,
        "completed": completed,
        "failed": failed,
        "needs_review": review,
        "unknown": unknown,
        "sending": sending,
        "pending": pending,
        "skipped": counts.get(RowStatus.SKIPPED.value, 0),
        "done": done,
        "percent": (100 * done // total) if total else 0,
        "rate": rate,
        "seconds_left": seconds_left,
    }
