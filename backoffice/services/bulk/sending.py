"""Sending rows to the Mojaloop SDK adapter: claim them, pay them concurrently, record outcomes.

Rows are claimed (one UPDATE to SENDING under the job's lease) and committed BEFORE any
call; a 504 / timeout / lost connection is UNKNOWN, left to settlement. Outcomes are
written in groups, each with its ledger share, in one transaction.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, update

from backoffice.clients.mojaloop import MojaloopClient, Outcome, Party, TransferRequest, TransferResult
from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.batches import RowStatus
from backoffice.services.bulk.outcomes import (
    ROWS,
    WORK_COLUMNS,
    BatchContext,
    RowWork,
    completed_params,
    failed_params,
    row_work,
    settle_ledger,
    write_completed,
    write_failed,
)

log = logging.getLogger(__name__)

# --- process-wide resources: the HTTP client and the thread pool -----------------------

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


def pool() -> ThreadPoolExecutor:
    """The process's threads for calls to the adapter (BATCH_CONCURRENCY of them)."""
    size = _concurrency()
    with _resources_lock:
        executor = _pools.get(size)
        if executor is None:
            executor = _pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="mojaloop")
        return executor


def _concurrency() -> int:
    return max(1, int(current_app.config["BATCH_CONCURRENCY"]))


# --- claiming and paying ----------------------------------------------------------------


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
    return [row_work(r) for r in sorted(claimed, key=lambda r: r.id)]


def _request(ctx: BatchContext, row: RowWork) -> TransferRequest:
    return TransferRequest(
        transfer_id=row.transfer_id,
        home_transaction_id=row.home_transaction_id,
        payer=ctx.payer,
        payee=Party(row.party_id_type, row.party_id_value),
        amount=row.amount,
        currency=row.currency or ctx.currency,
        note=row.note,
    )


def pay_rows(ctx: BatchContext, rows: list[RowWork], owner: str) -> dict[str, int]:
    """Send the rows concurrently; write their outcomes (and ledger) in groups.

    A group is written every BATCH_FLUSH_ROWS outcomes or BATCH_FLUSH_SECONDS, whichever
    comes first. Returns the number of outcomes of each kind.
    """
    cfg = current_app.config
    client = get_client()
    flush_rows = int(cfg["BATCH_FLUSH_ROWS"])
    flush_seconds = float(cfg["BATCH_FLUSH_SECONDS"])
    executor = pool()
    futures: dict[Future, RowWork] = {executor.submit(client.transfer, _request(ctx, row)): row for row in rows}
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
    for future in futures:
        future.add_done_callback(finished.put)
    counts: dict[str, int] = {}
    group: list[tuple[RowWork, TransferResult]] = []
    last_flush = time.monotonic()
    remaining = len(futures)
    try:
        while remaining:
            try:
                future = finished.get(timeout=flush_seconds)
            except queue.Empty:
                future = None
            if future is not None:
                remaining -= 1
                row = futures[future]
                result = _result(future, row)
                group.append((row, result))
                counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
            if group and (len(group) >= flush_rows or time.monotonic() - last_flush >= flush_seconds):
                record_outcomes(ctx, group, owner)
                group = []
                last_flush = time.monotonic()
    except BaseException:
        # Never leave a call of ours in flight behind rows we give up: calls not started
        # are cancelled, running ones are waited for (bounded by the client's timeout).
        for future in futures:
            future.cancel()
        wait(list(futures), timeout=client.timeout + 5)
        raise
    if group:
        record_outcomes(ctx, group, owner)
    return counts


def _result(future: Future, row: RowWork) -> TransferResult:
    try:
        return future.result()
    except Exception as exc:  # a bug in the client: the call may have gone out
        log.exception("transfer %s raised", row.transfer_id)
        return TransferResult(Outcome.UNKNOWN, row.transfer_id, detail=f"client error: {exc!r}"[:200])


def record_outcomes(ctx: BatchContext, results: list[tuple[RowWork, TransferResult]], owner: str) -> None:
    """Write a group of outcomes and its ledger entries in one transaction."""
    now = utcnow()
    first_check = now + timedelta(seconds=float(current_app.config["BATCH_STATUS_BACKOFF_SECONDS"]))
    completed, failed, unknown = [], [], []
    for row, result in results:
        if result.outcome == Outcome.COMPLETED:
            completed.append(completed_params(row.id, result.payee_name, result.payee_fsp_id, result.fee, now))
        elif result.outcome == Outcome.FAILED:
            failed.append(failed_params(row.id, result.error_code, result.error_description, result.payee_name))
        else:
            description = f"Issue inconnue ({result.detail or 'sans réponse'}) : vérification auprès du switch."
            unknown.append({"b_id": row.id, "b_description": description[:500], "b_next": first_check})
    write_completed(completed, owner, RowStatus.SENDING, now)
    write_failed(failed, owner, RowStatus.SENDING, now)
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
