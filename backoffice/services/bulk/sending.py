"""Sending rows to the Mojaloop SDK adapter: a continuous pipeline that keeps every slot busy.

A job keeps up to BATCH_CONCURRENCY transfers in flight. As slots free up it claims more
PENDING rows (one UPDATE to SENDING under its lease, committed BEFORE any call), so one
transfer hanging for the client's whole timeout only ever holds its own slot. A 504 /
timeout / connection lost after the request left is UNKNOWN, left to settlement; a request
that never left (refused, DNS, connect timeout) is sent again at once with the same
transferId, the attempt counted. Outcomes are written in groups, each with its ledger share,
in one transaction.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from backoffice.clients.mojaloop import (
    MojaloopClient,
    Outcome,
    Party,
    TransferRequest,
    TransferResult,
    TransferState,
)
from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchStatus, RowStatus
from backoffice.services.bulk.breaker import Breaker
from backoffice.services.bulk.outcomes import (
    ROWS,
    WORK_COLUMNS,
    BatchContext,
    RowWork,
    completed_params,
    failed_params,
    row_work,
    settle_ledger,
    settle_rows,
    write_completed,
    write_failed,
)

log = logging.getLogger(__name__)

# A call in flight for much longer than the others is "stuck" (a slow payee FSP): it stops
# counting against the slots, and a thread is added so that the other rows keep
# BATCH_CONCURRENCY calls going (at most STUCK_THREADS_FACTOR × BATCH_CONCURRENCY threads in
# all). "Much longer" is STUCK_LATENCY_FACTOR times the median time of the job's last calls
# (queued to answered), within [STUCK_MIN_SECONDS, STUCK_MAX_SECONDS]: an adapter that slows
# down as a whole raises the threshold with it, so that its calls are not taken for stuck ones
# and it is not sent more than BATCH_CONCURRENCY calls at once.
STUCK_LATENCY_FACTOR = 5
STUCK_MIN_SECONDS = 0.25
STUCK_MAX_SECONDS = 5.0  # before the job has seen enough calls, and the threshold's ceiling
STUCK_THREADS_FACTOR = 4
LATENCY_SAMPLE = 256  # calls the median is taken over
# A request that never left is tried again after this wait, doubled each time up to the cap;
# after BATCH_UNSENT_GIVE_UP_SECONDS of refusals the row is left UNKNOWN to settlement.
UNSENT_RETRY_FIRST_SECONDS = 0.05
UNSENT_RETRY_MAX_SECONDS = 2.0
# A database that goes away (a restart, a failover) is waited for this long, the outcomes in
# hand kept in memory, before the job gives up: its calls in flight and claimed rows stay
# valid, and writing an outcome late changes nothing (the write is guarded by the lease).
DATABASE_RIDE_THROUGH_SECONDS = 30.0
DATABASE_RETRY_SECONDS = 0.25

# --- process-wide resources: the HTTP client and the sender threads ---------------------


class _NotStarted(Exception):
    """A queued call its job withdrew before a thread took it."""


NOT_STARTED = _NotStarted()
STATUS_PROBE = object()  # the tag of the breaker's status probe in a job's outbox

_resources_lock = threading.Lock()
_clients: dict[tuple, MojaloopClient] = {}
_senders: dict[int, Senders] = {}


class Senders:
    """The process's threads that call the adapter: they take (call, argument, tag, outbox)
    from one queue and put (tag, result, error) on the caller's outbox. No Future per row."""

    def __init__(self, size: int) -> None:
        self.size = size  # the slots: calls in flight that are not stuck
        self.threads = 0
        self._lock = threading.Lock()
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.ensure(size)

    def ensure(self, count: int) -> None:
        """At least `count` threads (more than the slots while some calls are stuck: a call
        hanging for the client's whole timeout must not take a slot from the others)."""
        with self._lock:
            while self.threads < count:
                threading.Thread(target=self._serve, name=f"mojaloop-{self.threads}", daemon=True).start()
                self.threads += 1

    def _serve(self) -> None:
        while True:
            call, argument, tag, outbox, stop = self.inbox.get()
            if stop is not None and stop.is_set():
                outbox.put((tag, None, NOT_STARTED))  # its job gave up: never sent
                continue
            try:
                outbox.put((tag, call(argument), None))
            except BaseException as exc:  # noqa: BLE001 - reported to the caller, the thread lives on
                outbox.put((tag, None, exc))

    def submit(self, call: Callable, argument, tag, outbox: queue.SimpleQueue, stop=None) -> None:
        """Queue call(argument); with `stop` (a threading.Event) set before a thread takes it,
        it is not called and comes back as NOT_STARTED."""
        self.inbox.put((call, argument, tag, outbox, stop))

    def map(self, call: Callable, arguments: Iterable) -> list[tuple[object, BaseException | None]]:
        """call(argument) for each argument, concurrently; (result, error) in the same order."""
        outbox: queue.SimpleQueue = queue.SimpleQueue()
        arguments = list(arguments)
        for index, argument in enumerate(arguments):
            self.submit(call, argument, index, outbox)
        results: list = [None] * len(arguments)
        for _ in arguments:
            index, result, error = outbox.get()
            results[index] = (result, error)
        return results


def get_client(timeout: float | None = None) -> MojaloopClient:
    """One client per process and configuration (thread-safe: each sender thread keeps its own
    connection); `timeout` other than MOJALOOP_TIMEOUT_SECONDS gives its own client (lookups)."""
    cfg = current_app.config
    timeout = float(cfg["MOJALOOP_TIMEOUT_SECONDS"] if timeout is None else timeout)
    key = (cfg["MOJALOOP_SDK_URL"], timeout, cfg["MOJALOOP_AUTO_ACCEPT"])
    with _resources_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = MojaloopClient.from_config(cfg, timeout=timeout)
        return client


def senders() -> Senders:
    """The process's threads for calls to the adapter (BATCH_CONCURRENCY of them)."""
    size = _concurrency()
    with _resources_lock:
        found = _senders.get(size)
        if found is None:
            found = _senders[size] = Senders(size)
        return found


def _concurrency() -> int:
    return max(1, int(current_app.config["BATCH_CONCURRENCY"]))


# --- claiming ---------------------------------------------------------------------------


def claim_pending(batch_id: int, first_id: int, last_id: int, owner: str, limit: int | None = None) -> list[RowWork]:
    """Mark up to `limit` PENDING rows of ids first_id..last_id SENDING under our lease, in one
    UPDATE, committed now; only while the batch is PROCESSING (a paused or cancelled batch
    gives nothing). Lowest ids first; on PostgreSQL rows another job is claiming are skipped."""
    now = utcnow()
    processing = select(Batch.id).where(Batch.id == batch_id, Batch.status == BatchStatus.PROCESSING.value)
    chosen = (
        select(ROWS.c.id)
        .where(
            ROWS.c.batch_id == batch_id,
            ROWS.c.id.between(first_id, last_id),
            ROWS.c.status == RowStatus.PENDING.value,
            ROWS.c.batch_id.in_(processing.scalar_subquery()),
        )
        .order_by(ROWS.c.id)
        .limit(limit if limit is not None else last_id - first_id + 1)
        .with_for_update(skip_locked=True)
        # Materialised, so that the LIMIT holds: PostgreSQL may run a plain IN (subquery) with
        # LIMIT … SKIP LOCKED more than once per statement and claim more rows than asked.
        .cte("chosen")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    # Joined on the primary key alone (UPDATE … FROM chosen): the chosen rows are locked, still
    # PENDING, and repeating any condition here let the planner scan the batch's PENDING rows
    # once per chosen row.
    claimed = db.session.execute(
        update(ROWS)
        .where(ROWS.c.id == chosen.c.id)
        .values(
            status=RowStatus.SENDING.value,
            sending_since=now,
            lease_owner=owner,
            attempts=ROWS.c.attempts + 1,
            updated_at=now,
        )
        .returning(*WORK_COLUMNS, ROWS.c.line_number)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return [row_work(r) for r in sorted(claimed, key=lambda r: r.id)]


class Claimer:
    """Claims a batch's PENDING rows block by block for one job: its own chunk first, from
    `first_id` up, then (once) from the batch's start, so that rows of any chunk are sent by
    whichever job has a free slot. Exhausted when a claim from the start finds nothing."""

    def __init__(self, batch_id: int, first_id: int, owner: str) -> None:
        self.batch_id = batch_id
        self.owner = owner
        self.cursor = first_id
        self.wrapped = first_id <= 0
        self.exhausted = False

    def rewind(self, row_id: int) -> None:
        """Claim again from `row_id` (rows this job put back PENDING)."""
        self.cursor = min(self.cursor, row_id)
        self.exhausted = False

    def __call__(self, limit: int) -> list[RowWork]:
        while not self.exhausted:
            rows = claim_pending(self.batch_id, self.cursor, 2**62, self.owner, limit)
            if rows:
                self.cursor = rows[-1].id + 1
                return rows
            if self.wrapped:
                self.exhausted = True
            else:
                self.cursor, self.wrapped = 0, True
        return []


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


# --- the pipeline -----------------------------------------------------------------------


def pay_rows(
    ctx: BatchContext, rows: list[RowWork], owner: str, claim: Callable[[int], list[RowWork]] | None = None
) -> dict[str, int]:
    """Send `rows` (already claimed) and, with `claim`, every row it hands out as slots free up.

    Up to BATCH_CONCURRENCY transfers are in flight and as many more wait in the sender
    threads' queue, so the slots stay busy while this thread writes a group or claims; a
    block of BATCH_CONCURRENCY rows is claimed whenever that queue is empty. A call in flight
    far longer than the others (`_stuck_after`) no longer counts (a thread is added for the
    others). Outcomes are written in groups every BATCH_FLUSH_ROWS outcomes or
    BATCH_FLUSH_SECONDS. A request that never left is sent again (same transferId) after a
    short backoff. While the adapter answers nothing, the breaker puts the rows not yet sent
    back PENDING and probes (services/bulk/breaker.py). A database that goes away is waited
    for (`_riding_through`). Returns the number of outcomes of each kind.
    On an error, queued rows no thread has taken are withdrawn and put back PENDING.
    """
    cfg = current_app.config
    client = get_client()
    threads = senders()
    slots = threads.size
    flush_rows = int(cfg["BATCH_FLUSH_ROWS"])
    flush_seconds = float(cfg["BATCH_FLUSH_SECONDS"])
    give_up_after = float(cfg["BATCH_UNSENT_GIVE_UP_SECONDS"])
    outbox: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    ahead = 2 * slots  # in flight (not stuck) + queued for the threads
    started: dict[int, float] = {}  # row id → when it was queued for a thread
    stuck = 0
    last_stuck_count = time.monotonic()
    latencies: deque[float] = deque(maxlen=LATENCY_SAMPLE)  # the last calls' durations
    breaker = Breaker(f"batch {ctx.batch_id} ({owner})")
    claimer = claim
    last_unknown: str | None = None  # the transferId the breaker's status probe asks about
    stuck_after = STUCK_MAX_SECONDS
    waiting: deque[RowWork] = deque(rows)
    retries: list[tuple[float, int, RowWork]] = []  # (due, seq, row): never sent, tried again at `due`
    unsent: dict[int, _Unsent] = {}  # row id → refusals so far
    seq = itertools.count()
    in_flight = 0
    counts: dict[str, int] = {}
    group: list[tuple[RowWork, TransferResult]] = []
    last_flush = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            while retries and retries[0][0] <= now:
                waiting.append(heapq.heappop(retries)[2])
            if now - last_stuck_count >= 0.25:
                last_stuck_count = now
                stuck_after = _stuck_after(latencies)
                stuck = min(
                    sum(1 for t in started.values() if now - t > stuck_after),
                    slots * (STUCK_THREADS_FACTOR - 1),
                )
                threads.ensure(slots + stuck)
            moving = in_flight - stuck
            if claim is not None and (
                (breaker.closed and moving + len(waiting) <= ahead - slots)
                or (not breaker.closed and not waiting and breaker.may_send(now))  # one row, the probe
            ):
                claimed = _riding_through(claim, ahead - moving - len(waiting) if breaker.closed else 1)
                if not claimed:
                    claim = None
                waiting.extend(claimed)
            while waiting and in_flight - stuck < ahead and breaker.may_send(now):
                row = waiting.popleft()
                if row.id in unsent:
                    unsent[row.id].sent_at = utcnow()
                started[row.id] = now
                threads.submit(client.transfer, _request(ctx, row), row, outbox, stop)
                breaker.sent(row.id)
                in_flight += 1
            if last_unknown and (waiting or claim is not None) and breaker.wants_status_probe(now):
                threads.submit(client.transfer_status, last_unknown, STATUS_PROBE, outbox, stop)
                breaker.status_probe_sent()
                in_flight += 1
            if not in_flight and not waiting and not retries and claim is None:
                break
            timeout = max(flush_seconds - (time.monotonic() - last_flush), 0.01)
            if retries:
                timeout = min(timeout, max(retries[0][0] - time.monotonic(), 0.0) + 0.001)
            probe_in = breaker.wake_in(time.monotonic()) if (waiting or claim is not None) else None
            if probe_in is not None:
                timeout = min(timeout, probe_in + 0.001)
            try:
                row, result, error = outbox.get(timeout=timeout)
            except queue.Empty:
                row = None
            if row is STATUS_PROBE:
                in_flight -= 1
                answered = error is None and result.state != TransferState.UNREACHABLE
                breaker.status_probe(answered, time.monotonic())
                row = None
            if row is not None:
                in_flight -= 1
                took = time.monotonic() - started.pop(row.id, now)
                latencies.append(took)
                if took > stuck_after:
                    stuck = max(stuck - 1, 0)
                result = _result(row, result, error)
                if result.outcome == Outcome.UNKNOWN:
                    last_unknown = row.transfer_id
                if result.outcome != Outcome.NOT_SENT:
                    was_closed = breaker.closed
                    breaker.outcome(row.id, result.outcome != Outcome.UNKNOWN, time.monotonic())
                    if was_closed and not breaker.closed and isinstance(claimer, Claimer) and waiting:
                        # Nothing held that was not sent while the adapter answers nothing: a
                        # job killed now leaves no row to check; they are claimed again later.
                        held = [r.id for r in waiting]
                        waiting.clear()
                        _put_back(held, owner)
                        claimer.rewind(min(held))
                        claim = claimer
                if result.outcome == Outcome.NOT_SENT:
                    refused = unsent.setdefault(row.id, _Unsent(time.monotonic()))
                    refused.count += 1
                    if time.monotonic() - refused.since < give_up_after:
                        wait = min(UNSENT_RETRY_FIRST_SECONDS * 2 ** (refused.count - 1), UNSENT_RETRY_MAX_SECONDS)
                        heapq.heappush(retries, (time.monotonic() + wait, next(seq), row))
                        continue
                    # Refused for too long: left to settlement, as UNKNOWN (it may have left once).
                    result = TransferResult(Outcome.UNKNOWN, row.transfer_id, detail=result.detail)
                group.append((row, result))
                counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
            # Written at once when only stuck calls are left: the rows' outcomes do not wait
            # for the end of BATCH_FLUSH_SECONDS behind calls that may hang for the timeout.
            if group and (
                len(group) >= flush_rows
                or time.monotonic() - last_flush >= flush_seconds
                or (in_flight <= stuck and not waiting)
            ):
                _riding_through(record_outcomes, ctx, group, owner, unsent)
                group = []
                last_flush = time.monotonic()
    except BaseException:
        # Never leave a call of ours in flight behind rows we give up: queued calls are
        # withdrawn, running ones waited for (bounded by the client's timeout).
        stop.set()
        withdrawn = [row.id for row in waiting] + [row.id for _, _, row in retries]
        deadline = time.monotonic() + client.timeout + 5
        while in_flight and time.monotonic() < deadline:
            try:
                row, _result_, error = outbox.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            in_flight -= 1
            if error is NOT_STARTED and row is not STATUS_PROBE:
                withdrawn.append(row.id)
        _put_back(withdrawn, owner)
        raise
    if group:
        _riding_through(record_outcomes, ctx, group, owner, unsent)
    return counts


def _riding_through(write: Callable, *args):
    """write(*args), tried again while the database is unreachable, for up to
    DATABASE_RIDE_THROUGH_SECONDS; each try is one transaction (rolled back when it fails)."""
    give_up_at = time.monotonic() + DATABASE_RIDE_THROUGH_SECONDS
    while True:
        try:
            return write(*args)
        except (OperationalError, InterfaceError) as exc:
            db.session.rollback()
            if not exc.connection_invalidated and not _database_down(exc):
                raise
            if time.monotonic() >= give_up_at:
                raise
            log.warning("database unreachable (%s): trying again", type(exc.orig).__name__)
            time.sleep(DATABASE_RETRY_SECONDS)


def _database_down(exc: OperationalError | InterfaceError) -> bool:
    """The database refused a new connection (down, starting up, in recovery). A connection
    lost while in use needs no test here: SQLAlchemy's dialect recognises it and raises the
    error with `connection_invalidated` set."""
    text = str(exc.orig).lower()
    return any(
        sign in text
        for sign in (
            "could not connect",
            "connection refused",
            "the database system is",  # starting up, shutting down, in recovery mode
            "no connection to the server",
        )
    )


def _stuck_after(latencies: deque[float]) -> float:
    """Seconds after which a call in flight is stuck: STUCK_LATENCY_FACTOR × the median."""
    if len(latencies) < 32:
        return STUCK_MAX_SECONDS
    median = sorted(latencies)[len(latencies) // 2]
    return min(max(STUCK_LATENCY_FACTOR * median, STUCK_MIN_SECONDS), STUCK_MAX_SECONDS)


def _put_back(row_ids: list[int], owner: str) -> None:
    """Rows claimed but never sent (their job is giving up) → PENDING again, their claim undone.
    Best effort: if the database is what failed, they become UNKNOWN with the others (safe)."""
    if not row_ids:
        return
    try:
        db.session.rollback()
        for start in range(0, len(row_ids), 500):
            db.session.execute(
                update(ROWS)
                .where(
                    ROWS.c.id.in_(row_ids[start : start + 500]),
                    ROWS.c.lease_owner == owner,
                    ROWS.c.status == RowStatus.SENDING.value,
                )
                .values(status=RowStatus.PENDING.value, lease_owner=None, attempts=ROWS.c.attempts - 1)
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
    except Exception:  # noqa: BLE001 - the rows stay SENDING and are given up as UNKNOWN
        db.session.rollback()
        log.exception("could not put %s unsent row(s) back", len(row_ids))


class _Unsent:
    """A row whose request was refused before it left: since when, how often, last try."""

    __slots__ = ("since", "count", "sent_at")

    def __init__(self, since: float) -> None:
        self.since = since
        self.count = 0
        self.sent_at = None


def _result(row: RowWork, result: TransferResult | None, error: BaseException | None) -> TransferResult:
    if error is None and result is not None:
        return result
    # A bug in the client: the call may have gone out.
    log.error("transfer %s raised %r", row.transfer_id, error)
    return TransferResult(Outcome.UNKNOWN, row.transfer_id, detail=f"client error: {error!r}"[:200])


def record_outcomes(
    ctx: BatchContext, results: list[tuple[RowWork, TransferResult]], owner: str, unsent: dict | None = None
) -> None:
    """Write a group of outcomes and its ledger entries in one transaction."""
    now = utcnow()
    first_check = now + timedelta(seconds=float(current_app.config["BATCH_STATUS_BACKOFF_SECONDS"]))
    completed, failed, unknown, refused = [], [], [], []
    for row, result in results:
        if unsent and row.id in unsent:
            refused.append({"b_id": row.id, "b_more": unsent[row.id].count, "b_since": unsent[row.id].sent_at or now})
        if result.outcome == Outcome.COMPLETED:
            completed.append(completed_params(row.id, result.payee_name, result.payee_fsp_id, result.fee, now))
        elif result.outcome == Outcome.FAILED:
            failed.append(failed_params(row.id, result.error_code, result.error_description, result.payee_name))
        else:
            description = f"Issue inconnue ({result.detail or 'sans réponse'}) : vérification auprès du switch."
            unknown.append({"b_id": row.id, "b_description": description[:500], "b_next": first_check})
    if refused:
        # Refused tries are counted apart from the sends (`attempts`, which bound the resends);
        # the resend grace runs from the try that left.
        db.session.execute(
            update(ROWS)
            .where(ROWS.c.id == bindparam("b_id"), ROWS.c.lease_owner == owner)
            .values(refusals=ROWS.c.refusals + bindparam("b_more"), sending_since=bindparam("b_since")),
            refused,
        )
    paid = write_completed(completed, owner, RowStatus.SENDING, now, settle=True)
    not_paid = write_failed(failed, owner, RowStatus.SENDING, now, settle=True)
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
    if paid is None or not_paid is None:  # no RETURNING (SQLite): read the final rows back
        settle_ledger(ctx, [row.id for row, _ in results])
    else:
        settle_rows(ctx, paid + not_paid)
    db.session.commit()
    if unsent:
        for row, _ in results:
            unsent.pop(row.id, None)
