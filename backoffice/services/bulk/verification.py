"""Payee verification before approval: who is behind each identifier, and is it the file's name?

Once a draft is uploaded, RQ jobs (one per VERIFY_CHUNK_SIZE valid rows, so that every
worker takes a share) look up the rows through the SDK adapter's
`GET /parties/{idType}/{idValue}` (VERIFY_CONCURRENCY lookups at once per job, on the
payment pipeline's sender threads and pooled client) and save, per row,
the name returned, the FSP and the outcome: FOUND, NOT_FOUND, or UNVERIFIED when a 504 /
timeout repeated with backoff past VERIFY_RETRY_BUDGET_SECONDS ("non vérifié": it never
blocks forever). A party not found makes the row INVALID, with its reason, before approval.

The names are compared with rapidfuzz's token ratios on unaccented, lower-case text, so
that accents, case, word order, hyphens and initials do not matter; the 0-100 score is
Concordant / À contrôler / Discordant by the NAME_MATCH_* settings. Approving a batch with
rows still Discordant needs an acknowledgement (`approval.approve_batch`).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import queue
import re
import threading
import time
import unicodedata
from collections import deque
from dataclasses import dataclass

from flask import current_app
from rapidfuzz import fuzz
from sqlalchemy import bindparam, func, select, update

from backoffice.clients.mojaloop import PartyLookup
from backoffice.extensions import db
from backoffice.jobs import queue as jobs
from backoffice.models import User
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchRow, BatchStatus, RowStatus
from backoffice.services import ServiceError, audit
from backoffice.services.bulk import sending
from backoffice.services.bulk.approval import check_gestionnaire, record_event
from backoffice.services.bulk.chunks import chunk_ranges
from backoffice.services.bulk.outcomes import ROWS, update_from_arrays
from backoffice.services.locale import plural

log = logging.getLogger(__name__)

RUNNING = "RUNNING"
DONE = "DONE"
FOUND, NOT_FOUND, UNVERIFIED = "FOUND", "NOT_FOUND", "UNVERIFIED"
CONCORDANT, TO_CHECK, DISCORDANT = "CONCORDANT", "A_CONTROLER", "DISCORDANT"
WRITE_GROUP = 200
# A lookup to try again no sooner than this, when nothing else is left, goes to a delayed job.
DEFER_AFTER_SECONDS = 2.0
JOB_OPTIONS = {"job_timeout": 6 * 3600, "result_ttl": 3600, "failure_ttl": 7 * 86400}
NOT_FOUND_MESSAGE = "Bénéficiaire introuvable chez Mojaloop (aucun compte pour {id_type} {id_value})."


# The name match ----------------------------------------------------------------------------

_NOT_LETTERS = re.compile(r"[^a-z0-9]+")


def plain_words(name: str) -> list[str]:
    """`Aïcha-Marie  DOSSOU` → ["aicha", "marie", "dossou"]: no accents, case, hyphens or dots."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return [w for w in _NOT_LETTERS.split(ascii_text) if w]


def _expand_initials(words: list[str], other: list[str]) -> list[str]:
    """`k` stands for the other name's word starting with k (`K. Agossou` ~ `Koffi Agossou`)."""
    expanded = []
    for word in words:
        if len(word) == 1:
            word = next((o for o in other if len(o) > 1 and o.startswith(word)), word)
        expanded.append(word)
    return expanded


def name_score(file_name: str, returned_name: str) -> int | None:
    """0-100 likeness of two names (None when either is empty: nothing to compare)."""
    a, b = plain_words(file_name), plain_words(returned_name)
    if not a or not b:
        return None
    a, b = _expand_initials(a, b), _expand_initials(b, a)
    left, right = " ".join(a), " ".join(b)
    score = fuzz.token_sort_ratio(left, right)
    if min(len(a), len(b)) >= 2:
        # A middle name more or less in one of them keeps two names concordant.
        score = max(score, fuzz.token_set_ratio(left, right))
    return int(round(score))


def classify(score: int | None, concordant: int, discordant: int) -> str | None:
    if score is None:
        return None
    if score >= concordant:
        return CONCORDANT
    if score >= discordant:
        return TO_CHECK
    return DISCORDANT


# Starting a verification -------------------------------------------------------------------


def can_verify(actor: User, batch: Batch) -> bool:
    return (
        actor.is_gestionnaire
        and actor.organisation_id == batch.organisation_id
        and batch.status == BatchStatus.DRAFT.value
    )


def start_verification(actor: User, batch_id: int) -> Batch:
    """Queue the lookup of a draft's valid rows (commits; the job runs in a worker)."""
    batch = db.session.execute(
        select(Batch).where(Batch.id == batch_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    check_gestionnaire(actor, batch.organisation_id)
    if batch.status != BatchStatus.DRAFT.value:
        raise ServiceError("Seul un brouillon peut être vérifié.")
    if batch.verification_status == RUNNING:
        # Resume (a worker died mid-way): rows already looked up are kept; a chunk whose
        # job is still waiting or running is not queued again.
        db.session.commit()
        _enqueue_chunks(batch, resume=True)
        return batch
    if not batch.valid_count:
        raise ServiceError("Ce lot ne contient aucune ligne valide à vérifier.")
    batch.verification_status = RUNNING
    batch.verified_at = None
    db.session.execute(
        update(BatchRow)
        .where(BatchRow.batch_id == batch.id, BatchRow.status == RowStatus.PENDING.value)
        .values(lookup_status=None, lookup_name=None, lookup_fsp_id=None, name_score=None, name_match=None)
        .execution_options(synchronize_session=False)
    )
    record_event(
        batch, actor, "verification_started", f"Vérification des bénéficiaires lancée ({batch.valid_count} lignes)."
    )
    audit.record(actor, "batch.verification_started", batch, reference=batch.reference, rows=batch.valid_count)
    db.session.commit()
    _enqueue_chunks(batch)
    return batch


def _enqueue_chunks(batch: Batch, resume: bool = False) -> None:
    """One job per VERIFY_CHUNK_SIZE valid rows, so that every worker takes a share."""
    size = max(1, int(current_app.config["VERIFY_CHUNK_SIZE"]))
    for first, last in chunk_ranges(batch.id, size):
        jobs.enqueue(
            "backoffice.jobs.verification.verify_chunk",
            batch.id,
            first,
            last,
            job_id=f"verify-batch-{batch.id}-{first}-{last}",
            description=f"Vérification des bénéficiaires du lot {batch.reference} (lignes {first}-{last})",
            once=resume,
            **JOB_OPTIONS,
        )


# The job ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowToVerify:
    id: int
    id_type: str
    id_value: str
    name: str


@dataclass(frozen=True)
class Verified:
    row_id: int
    status: str
    name: str | None
    fsp_id: str | None
    score: int | None
    match: str | None


class _Retry:
    """A row whose lookup gave no usable answer: when its budget ends, the next wait."""

    __slots__ = ("deadline", "delay")

    def __init__(self, deadline: float, delay: float) -> None:
        self.deadline = deadline
        self.delay = delay


def _verified(row: RowToVerify, lookup: PartyLookup, rules: tuple[int, int]) -> Verified:
    if not lookup.found:
        return Verified(row.id, NOT_FOUND, None, None, None, None)
    score = name_score(row.name, lookup.name or "")
    return Verified(row.id, FOUND, (lookup.name or "")[:200] or None, lookup.fsp_id, score, classify(score, *rules))


def run_verification(
    batch_id: int, first_id: int = 0, last_id: int = 2**62, retry: list[tuple[int, float, float]] | None = None
) -> dict:
    """Look up the valid rows of ids first_id..last_id of a draft being verified not looked up
    yet (the whole batch by default), or with `retry` the rows (id, deadline as a Unix time,
    next wait) a job deferred; the last job to end finishes the verification. Returns this
    job's counts by outcome.

    A continuous pipeline on the process's sender threads and pooled client (those of the
    payment pipeline, `sending.senders()` / `get_client`): VERIFY_CONCURRENCY lookups in
    flight, no Future per row; a row waiting out its backoff holds no slot (retry heap), and
    once only such rows are left, waits of DEFER_AFTER_SECONDS or more are handed to a delayed
    job (the worker goes on with other chunks). Results are written every WRITE_GROUP rows or
    second, in one statement on PostgreSQL. A job that dies leaves its rows not looked up, to
    the next `start_verification` (lookups are read-only: one done twice is harmless).
    """
    batch = db.session.get(Batch, batch_id)
    if batch is None or batch.verification_status != RUNNING or batch.status != BatchStatus.DRAFT.value:
        db.session.rollback()
        return {}
    db.session.commit()
    config = current_app.config
    concurrency = max(1, int(config["VERIFY_CONCURRENCY"]))
    rules = (int(config["NAME_MATCH_CONCORDANT"]), int(config["NAME_MATCH_DISCORDANT"]))
    backoff = float(config["VERIFY_BACKOFF_SECONDS"])
    budget = float(config["VERIFY_RETRY_BUDGET_SECONDS"])
    client = sending.get_client(timeout=float(config["VERIFY_TIMEOUT_SECONDS"]))
    threads = sending.senders()
    threads.ensure(concurrency)

    def look_up(row: RowToVerify) -> PartyLookup:
        return client.lookup_party(row.id_type, row.id_value)

    counts = {FOUND: 0, NOT_FOUND: 0, UNVERIFIED: 0}
    outbox: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    waiting: deque[RowToVerify] = deque()
    retries: list[tuple[float, int, RowToVerify]] = []  # (due, seq, row)
    pending_retry: dict[int, _Retry] = {}  # row id → its retry budget
    sent_at: dict[int, float] = {}  # row id → when its first lookup was queued
    if retry is None:
        rows = _rows_to_verify(batch_id, first_id, last_id)
    else:  # a deferred job: its rows are due now, their budget runs on
        rows = iter(())
        budgets = {row_id: (deadline, delay) for row_id, deadline, delay in retry}
        to_monotonic = time.monotonic() - time.time()
        for row in _rows_by_id(batch_id, list(budgets)):
            deadline, delay = budgets[row.id]
            pending_retry[row.id] = _Retry(deadline + to_monotonic, delay)
            waiting.append(row)
    exhausted = False
    seq = itertools.count()
    in_flight = 0
    group: list[Verified] = []
    last_write = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            while retries and retries[0][0] <= now:
                waiting.append(heapq.heappop(retries)[2])
            while in_flight < concurrency:
                row = waiting.popleft() if waiting else None if exhausted else next(rows, None)
                if row is None:
                    exhausted = True
                    break
                if row.id not in pending_retry:
                    sent_at[row.id] = now
                threads.submit(look_up, row, row, outbox, stop)
                in_flight += 1
            if not in_flight and not waiting and exhausted:
                if not retries:
                    break
                if retries[0][0] - now >= DEFER_AFTER_SECONDS:
                    _defer(batch_id, retries, pending_retry)
                    retries = []
                    break
            timeout = max(1.0 - (time.monotonic() - last_write), 0.01)
            if retries:
                timeout = min(timeout, max(retries[0][0] - time.monotonic(), 0.0) + 0.001)
            try:
                row, lookup, error = outbox.get(timeout=timeout)
            except queue.Empty:
                row = None
            if row is not None:
                in_flight -= 1
                first_sent = sent_at.pop(row.id, None)
                if error is not None:
                    log.error("lookup of row %s raised %r", row.id, error)
                    lookup = PartyLookup(False, unknown=True)
                if lookup.unknown:
                    state = pending_retry.get(row.id)
                    now = time.monotonic()
                    if state is None:
                        state = pending_retry[row.id] = _Retry((first_sent or now) + budget, backoff)
                    if now + state.delay > state.deadline:
                        result = Verified(row.id, UNVERIFIED, None, None, None, None)
                    else:
                        heapq.heappush(retries, (now + state.delay, next(seq), row))
                        state.delay = min(state.delay * 2, max(budget / 4, backoff))
                        result = None
                else:
                    result = _verified(row, lookup, rules)
                if result is not None:
                    pending_retry.pop(row.id, None)
                    group.append(result)
                    counts[result.status] += 1
            if group and (len(group) >= WRITE_GROUP or time.monotonic() - last_write >= 1.0):
                _write(group)
                group, last_write = [], time.monotonic()
    finally:
        stop.set()  # queued lookups of a job that failed are withdrawn (nothing to undo)
    if group:
        _write(group)
    if not _left_to_verify(batch_id):
        _finish(batch_id)
    return counts


def _defer(batch_id: int, retries: list[tuple[float, int, RowToVerify]], budgets: dict[int, _Retry]) -> None:
    """Rows only waiting for their next try go to a job queued for then (their budget kept)."""
    now = time.monotonic()
    to_epoch = time.time() - now
    rows = [(row.id, budgets[row.id].deadline + to_epoch, budgets[row.id].delay) for _, _, row in retries]
    jobs.enqueue(
        "backoffice.jobs.verification.verify_retries",
        batch_id,
        rows,
        delay=max(retries[0][0] - now, 0.0),
        description=f"Vérification : {len(rows)} ligne(s) du lot {batch_id} à réessayer",
        **JOB_OPTIONS,
    )


def _rows_by_id(batch_id: int, row_ids: list[int]) -> list[RowToVerify]:
    """These rows if still valid and not looked up."""
    rows = [
        RowToVerify(*r)
        for r in db.session.execute(
            select(BatchRow.id, BatchRow.party_id_type, BatchRow.party_id_value, BatchRow.name).where(
                BatchRow.batch_id == batch_id,
                BatchRow.id.in_(row_ids),
                BatchRow.status == RowStatus.PENDING.value,
                BatchRow.lookup_status.is_(None),
            )
        )
    ]
    db.session.commit()
    return rows


def _rows_to_verify(batch_id: int, first_id: int, last_id: int, page: int = 1000):
    """The range's valid rows not looked up yet, read page by page (keyset on the id)."""
    while True:
        rows = [
            RowToVerify(*r)
            for r in db.session.execute(
                select(BatchRow.id, BatchRow.party_id_type, BatchRow.party_id_value, BatchRow.name)
                .where(
                    BatchRow.batch_id == batch_id,
                    BatchRow.status == RowStatus.PENDING.value,
                    BatchRow.lookup_status.is_(None),
                    BatchRow.id.between(first_id, last_id),
                )
                .order_by(BatchRow.id)
                .limit(page)
            )
        ]
        db.session.commit()  # no transaction stays open during the lookups
        if not rows:
            return
        first_id = rows[-1].id + 1
        yield from rows


def _left_to_verify(batch_id: int) -> bool:
    """Some valid row of the batch is not looked up yet (another job's, or a dead one's)."""
    left = db.session.scalar(
        select(BatchRow.id)
        .where(
            BatchRow.batch_id == batch_id,
            BatchRow.status == RowStatus.PENDING.value,
            BatchRow.lookup_status.is_(None),
        )
        .limit(1)
    )
    db.session.commit()
    return left is not None


def _write(results: list[Verified]) -> None:
    """The group's outcomes, on rows still valid: one UPDATE … FROM unnest on PostgreSQL."""
    params = [
        {
            "b_id": r.row_id,
            "b_status": r.status,
            "b_name": r.name,
            "b_fsp_id": r.fsp_id,
            "b_score": r.score,
            "b_match": r.match,
        }
        for r in results
    ]
    values = {
        "lookup_status": bindparam("b_status"),
        "lookup_name": bindparam("b_name"),
        "lookup_fsp_id": bindparam("b_fsp_id"),
        "name_score": bindparam("b_score"),
        "name_match": bindparam("b_match"),
        "updated_at": utcnow(),
    }
    still_valid = ROWS.c.status == RowStatus.PENDING.value
    if db.session.get_bind().dialect.name == "postgresql":
        statement, arrays = update_from_arrays(params, values, still_valid)
        db.session.execute(statement, arrays)
    else:
        db.session.execute(update(ROWS).where(ROWS.c.id == bindparam("b_id"), still_valid).values(**values), params)
    db.session.commit()


def _finish(batch_id: int) -> None:
    """Rows not found become INVALID (with the reason), the counts follow, the batch is verified
    (once: the jobs that end together find it DONE after the first, under the batch's lock)."""
    batch = db.session.execute(
        select(Batch).where(Batch.id == batch_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    if batch.status != BatchStatus.DRAFT.value or batch.verification_status != RUNNING:
        db.session.rollback()
        return
    counts = _valid_rows_by(batch_id, BatchRow.lookup_status)
    not_found = db.session.execute(
        select(BatchRow.id, BatchRow.party_id_type, BatchRow.party_id_value, BatchRow.errors).where(
            BatchRow.batch_id == batch_id,
            BatchRow.status == RowStatus.PENDING.value,
            BatchRow.lookup_status == NOT_FOUND,
        )
    ).all()
    if not_found:
        table = BatchRow.__table__
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(status=RowStatus.INVALID.value, errors=bindparam("b_errors")),
            [
                {
                    "row_id": row_id,
                    "b_errors": (errors or [])
                    + [{"field": "partyIdentifier", "message": NOT_FOUND_MESSAGE.format(id_type=t, id_value=v)}],
                }
                for row_id, t, v, errors in not_found
            ],
        )
    recount(batch)
    matches = _valid_rows_by(batch_id, BatchRow.name_match)
    batch.verification_status = DONE
    batch.verified_at = utcnow()
    details = {
        "found": counts.get(FOUND, 0),
        "not_found": counts.get(NOT_FOUND, 0),
        "unverified": counts.get(UNVERIFIED, 0),
        "concordant": matches.get(CONCORDANT, 0),
        "to_check": matches.get(TO_CHECK, 0),
        "discordant": matches.get(DISCORDANT, 0),
    }
    message = (
        f"Vérification terminée : {plural(details['found'], 'bénéficiaire trouvé')}, "
        f"{plural(details['not_found'], 'introuvable')}, {plural(details['unverified'], 'non vérifié', 'non vérifiés')} ; "
        f"noms : {plural(details['concordant'], 'concordant')}, {details['to_check']} à contrôler, "
        f"{plural(details['discordant'], 'discordant')}."
    )
    record_event(batch, None, "verified", message, details)
    audit.record(None, "batch.verified", batch, reference=batch.reference, **details)
    db.session.commit()
    log.info("batch %s verified: %s", batch_id, json.dumps(details))


def _valid_rows_by(batch_id: int, column) -> dict:
    """The batch's valid rows counted by one column's values."""
    return dict(
        db.session.execute(
            select(column, func.count())
            .where(BatchRow.batch_id == batch_id, BatchRow.status == RowStatus.PENDING.value)
            .group_by(column)
        ).all()
    )


def recount(batch: Batch) -> None:
    """The batch's validation figures again from its rows (after a row changed in a draft)."""
    valid, invalid, warned, total = db.session.execute(
        select(
            func.count().filter(BatchRow.status == RowStatus.PENDING.value),
            func.count().filter(BatchRow.status == RowStatus.INVALID.value),
            func.count().filter(BatchRow.warnings.is_not(None)),
            func.coalesce(func.sum(BatchRow.amount).filter(BatchRow.status == RowStatus.PENDING.value), 0),
        ).where(BatchRow.batch_id == batch.id)
    ).one()
    batch.valid_count, batch.invalid_count, batch.warning_count, batch.total_amount = valid, invalid, warned, total


# Reading ------------------------------------------------------------------------------------


def progress(batch: Batch) -> dict:
    """Counts for the verification fragment."""
    rows = dict(
        db.session.execute(
            select(BatchRow.lookup_status, func.count())
            .where(
                BatchRow.batch_id == batch.id, BatchRow.status.in_((RowStatus.PENDING.value, RowStatus.INVALID.value))
            )
            .group_by(BatchRow.lookup_status)
        ).all()
    )
    matches = _valid_rows_by(batch.id, BatchRow.name_match)
    done = rows.get(FOUND, 0) + rows.get(NOT_FOUND, 0) + rows.get(UNVERIFIED, 0)
    total = done if batch.verification_status == DONE else done + rows.get(None, 0)
    if batch.verification_status == RUNNING:
        total = max(total, batch.valid_count)
    return {
        "status": batch.verification_status,
        "done": done,
        "total": total,
        "percent": int(100 * done / total) if total else 0,
        "found": rows.get(FOUND, 0),
        "not_found": rows.get(NOT_FOUND, 0),
        "unverified": rows.get(UNVERIFIED, 0),
        "concordant": matches.get(CONCORDANT, 0),
        "to_check": matches.get(TO_CHECK, 0),
        "discordant": matches.get(DISCORDANT, 0),
    }


def mismatched_rows(batch: Batch, match: str | None = None, limit: int = 50) -> list[BatchRow]:
    """Rows whose returned name is not concordant (or of one match class), to show side by side."""
    query = select(BatchRow).where(BatchRow.batch_id == batch.id, BatchRow.status == RowStatus.PENDING.value)
    if match:
        query = query.where(BatchRow.name_match == match)
    else:
        query = query.where(BatchRow.name_match.in_((TO_CHECK, DISCORDANT)))
    return list(db.session.scalars(query.order_by(BatchRow.name_score, BatchRow.line_number).limit(limit)))
