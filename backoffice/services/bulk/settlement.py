"""Settling rows whose outcome is unknown, through GET /transfers/{transferId}.

`decide` is the rule, a pure function of the row's state, the switch's reply, its counters
and the settings; `settle_unknown` is the loop that asks the switch and writes what `decide`
says. The review page (services/bulk/review.py) asks the same function about NEEDS_REVIEW rows.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, select

from backoffice.clients.mojaloop import MojaloopClient, StatusResult, TransferState
from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchStatus, RowStatus
from backoffice.services.bulk import sending
from backoffice.services.bulk.outcomes import (
    ROWS,
    WORK_COLUMNS,
    BatchContext,
    completed_params,
    failed_params,
    row_work,
    settle_ledger,
    write_completed,
    write_failed,
    write_held,
)

# --- the rule ---------------------------------------------------------------------------


class Action(enum.StrEnum):
    COMPLETE = "COMPLETE"  # the switch committed it: paid
    FAIL = "FAIL"  # the switch aborted it: not paid, its amount is released
    CHECK_LATER = "CHECK_LATER"  # ask again in `after` seconds
    RESEND = "RESEND"  # never reached the switch: send again with the same transferId
    REVIEW = "REVIEW"  # a person decides (NEEDS_REVIEW), its amount stays reserved


@dataclass(frozen=True)
class Decision:
    action: Action
    after: float | None = None  # CHECK_LATER: seconds until the next status check
    error_code: str | None = None  # FAIL
    reason: str | None = None  # FAIL and REVIEW: the row's description, in French


@dataclass(frozen=True)
class SettlementSettings:
    check_budget: int  # status checks before a person decides
    resend_grace_seconds: float  # "not found" is trusted only this long after the last send
    max_attempts: int  # sends of one row, resends included
    backoff_seconds: float  # first wait between checks, doubled after each
    backoff_max_seconds: float

    @classmethod
    def from_config(cls, cfg) -> SettlementSettings:
        return cls(
            check_budget=int(cfg["BATCH_STATUS_CHECK_BUDGET"]),
            resend_grace_seconds=float(cfg["BATCH_RESEND_GRACE_SECONDS"]),
            max_attempts=int(cfg["BATCH_MAX_ATTEMPTS"]),
            backoff_seconds=float(cfg["BATCH_STATUS_BACKOFF_SECONDS"]),
            backoff_max_seconds=float(cfg["BATCH_STATUS_BACKOFF_MAX_SECONDS"]),
        )

    def backoff(self, checks: int) -> float:
        return min(self.backoff_seconds * 2 ** max(checks - 1, 0), self.backoff_max_seconds)


def decide(
    row_status: RowStatus,
    reply: StatusResult,
    attempts: int,
    checks: int,
    seconds_since_send: float | None,
    settings: SettlementSettings,
) -> Decision:
    """What to do with a row after a status reply; `checks` counts this one.

    COMMITTED → COMPLETE and ABORTED → FAIL, whatever the row's state. For an UNKNOWN row:
    "not found" long enough after the last send → RESEND (REVIEW once the attempts are
    spent); a spent check budget → REVIEW; anything else → CHECK_LATER with backoff, and
    never before the resend grace has passed for a "not found". A NEEDS_REVIEW row is never
    resent: anything but a final answer leaves it to the person (REVIEW).
    """
    if reply.state == TransferState.COMMITTED:
        return Decision(Action.COMPLETE)
    if reply.state == TransferState.ABORTED:
        return Decision(
            Action.FAIL,
            error_code=reply.error_code or "ABORTED",
            reason=reply.error_description or "Transfert annulé par le switch (ABORTED).",
        )
    if row_status == RowStatus.NEEDS_REVIEW:
        return Decision(Action.REVIEW)
    if row_status != RowStatus.UNKNOWN:
        raise ValueError(f"a {row_status} row has no outcome to settle")
    not_found = reply.state == TransferState.NOT_FOUND and seconds_since_send is not None
    if not_found and seconds_since_send >= settings.resend_grace_seconds:
        if attempts >= settings.max_attempts:
            return Decision(Action.REVIEW, reason="Introuvable après plusieurs envois : à vérifier.")
        return Decision(Action.RESEND)
    if checks >= settings.check_budget:
        return Decision(Action.REVIEW, reason=f"Issue toujours inconnue après {checks} vérifications : à vérifier.")
    after = settings.backoff(checks)
    if not_found:  # the transfer may still be on its way to the switch
        after = max(after, settings.resend_grace_seconds - seconds_since_send)
    return Decision(Action.CHECK_LATER, after=after)


def check_status(
    client: MojaloopClient, transfer_id: str, id_type: str, id_value: str, known_name: str | None = None
) -> tuple[StatusResult, str | None]:
    """Status check; for a committed transfer also the payee's name (the status has none):
    the name the payee verification found, else a lookup now."""
    status = client.transfer_status(transfer_id)
    name = None
    if status.state == TransferState.COMMITTED:
        name = known_name or client.lookup_party(id_type, id_value).name
    return status, name


# --- the loop ---------------------------------------------------------------------------


def settle_unknown(ctx: BatchContext, owner: str, deadline: float, id_range: tuple[int, int] | None = None) -> None:
    """Settle the UNKNOWN rows we hold, round after round, until none is left or `deadline`.

    Each round checks the rows that are due, all at once, and writes what `decide` says in
    one transaction; resends go out straight away. Rows still UNKNOWN at the deadline are
    left (lease released by the caller) to a later settle job.
    """
    settings = SettlementSettings.from_config(current_app.config)
    while True:
        held = _held_unknown(ctx.batch_id, owner, id_range)
        if not held:
            return
        now = utcnow()
        due = [r for r in held if r.next_check_at is None or r.next_check_at <= now]
        if not due:
            wait_seconds = (min(r.next_check_at for r in held) - now).total_seconds()
            if time.monotonic() + wait_seconds > deadline:
                return
            time.sleep(max(wait_seconds, 0.05))
            continue
        if time.monotonic() > deadline:
            return
        resend = _settle_round(ctx, owner, due, settings)
        if resend:
            sending.pay_rows(ctx, [row_work(r) for r in resend], owner)


def _batch_status(batch_id: int) -> str | None:
    return db.session.scalar(select(Batch.status).where(Batch.id == batch_id))


def _held_unknown(batch_id: int, owner: str, id_range: tuple[int, int] | None) -> list:
    where = [ROWS.c.batch_id == batch_id, ROWS.c.status == RowStatus.UNKNOWN.value, ROWS.c.lease_owner == owner]
    if id_range:
        where.append(ROWS.c.id.between(*id_range))
    held = db.session.execute(
        select(
            *WORK_COLUMNS,
            ROWS.c.next_check_at,
            ROWS.c.sending_since,
            ROWS.c.status_checks,
            ROWS.c.attempts,
            ROWS.c.lookup_name,
        ).where(*where)
    ).all()
    db.session.commit()
    return list(held)


def _settle_round(ctx: BatchContext, owner: str, due: list, settings: SettlementSettings) -> list:
    """Check the due rows concurrently, write the decisions; returns the rows to resend."""
    client = sending.get_client()
    replies = sending.senders().map(
        lambda r: check_status(client, r.transfer_id, r.party_id_type, r.party_id_value, r.lookup_name), due
    )
    # A "not found" row of a paused batch goes back to PENDING (sent again on resume), of a
    # cancelled one to CANCELLED: the same trust in "not found" as a resend, without sending.
    writes = _Writes(_batch_status(ctx.batch_id))
    now = utcnow()
    for r, (reply, error) in zip(due, replies, strict=True):
        if error is None:
            status, name = reply
        else:  # pragma: no cover - the client does not raise
            status, name = StatusResult(TransferState.UNREACHABLE, r.transfer_id, detail=repr(error)), None
        checks = (r.status_checks or 0) + 1
        age = (now - r.sending_since).total_seconds() if r.sending_since else None
        decision = decide(RowStatus.UNKNOWN, status, r.attempts or 0, checks, age, settings)
        writes.add(r, checks, decision, name, now)
    writes.commit(ctx, owner, now)
    return writes.resend


class _Writes:
    """A round's decisions grouped by kind, for one executemany UPDATE each."""

    def __init__(self, batch_status: str | None = None) -> None:
        self.batch_status = batch_status
        self.unsent: list[dict] = []  # not found: back to PENDING (paused) or CANCELLED (cancelling)
        self.completed: list[dict] = []
        self.failed: list[dict] = []
        self.later: list[dict] = []
        self.review: list[dict] = []
        self.resend: list = []
        self.resend_checks: list[dict] = []

    def add(self, r, checks: int, decision: Decision, name: str | None, now) -> None:
        action = decision.action
        if action == Action.COMPLETE:
            self.completed.append(completed_params(r.id, name, None, 0, now) | {"b_checks": checks})
        elif action == Action.FAIL:
            self.failed.append(failed_params(r.id, decision.error_code, decision.reason, None) | {"b_checks": checks})
        elif action == Action.REVIEW:
            self.review.append({"b_id": r.id, "b_checks": checks, "b_description": decision.reason})
        elif action == Action.RESEND and self.batch_status != BatchStatus.PROCESSING.value:
            self.unsent.append({"b_id": r.id, "b_checks": checks})
        elif action == Action.RESEND:
            self.resend.append(r)
            self.resend_checks.append({"b_id": r.id, "b_checks": checks})
        else:
            self.later.append({"b_id": r.id, "b_checks": checks, "b_next": now + timedelta(seconds=decision.after)})

    def commit(self, ctx: BatchContext, owner: str, now) -> None:
        """One transaction for the round (rows, ledger, resend claims)."""
        unknown = RowStatus.UNKNOWN
        # Counting the check goes first: it also takes SQLite's write lock before the ledger reads.
        counted = [{"b_id": p["b_id"], "b_checks": p["b_checks"]} for p in self.completed + self.failed]
        write_held(counted, owner, unknown, status_checks=bindparam("b_checks"))
        write_completed([_without_checks(p) for p in self.completed], owner, unknown, now)
        write_failed([_without_checks(p) for p in self.failed], owner, unknown, now)
        write_held(
            self.later,
            owner,
            unknown,
            status_checks=bindparam("b_checks"),
            next_check_at=bindparam("b_next"),
            updated_at=now,
        )
        write_held(
            self.review,
            owner,
            unknown,
            status=RowStatus.NEEDS_REVIEW.value,
            status_checks=bindparam("b_checks"),
            error_description=bindparam("b_description"),
            next_check_at=None,
            lease_owner=None,
            updated_at=now,
        )
        # Saved before the resend, like the first send: SENDING again, same transferId.
        write_held(
            self.resend_checks,
            owner,
            unknown,
            status=RowStatus.SENDING.value,
            status_checks=bindparam("b_checks"),
            sending_since=now,
            attempts=ROWS.c.attempts + 1,
            next_check_at=None,
            updated_at=now,
        )
        cancelling = self.batch_status == BatchStatus.CANCELLING.value
        write_held(
            self.unsent,
            owner,
            unknown,
            status=RowStatus.CANCELLED.value if cancelling else RowStatus.PENDING.value,
            status_checks=bindparam("b_checks"),
            error_description="Annulé : introuvable auprès du switch, jamais renvoyé." if cancelling else None,
            next_check_at=None,
            lease_owner=None,
            updated_at=now,
        )
        settled = self.completed + self.failed + (self.unsent if cancelling else [])
        if settled:
            settle_ledger(ctx, [p["b_id"] for p in settled])
        db.session.commit()


def _without_checks(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "b_checks"}
