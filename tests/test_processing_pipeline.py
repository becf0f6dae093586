"""The sending pipeline: refused connections are sent again at once (not unknown), a request
lost after it left is unknown and settled by status, and jobs share a batch's rows.

In-process RQ jobs against the simulator over HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time

import pytest

from backoffice.clients.mojaloop import MojaloopClient, Outcome, Party, TransferRequest
from backoffice.models.batches import BatchStatus, RowStatus
from backoffice.services.bulk import chunks
from tests.factories import fresh_batch, ledger_consistent, make_approved_batch, msisdns, row_map
from tests.support import FAST_PROCESSING, configured_app, run_jobs


@pytest.fixture
def ctx(app, demo, sim):
    with configured_app(app, FAST_PROCESSING, sim.url) as configured:
        yield configured


def _request(value: str) -> TransferRequest:
    import uuid

    tid = str(uuid.uuid4())
    return TransferRequest(tid, tid, Party("BUSINESS", "X"), Party("MSISDN", value), 1000, "XOF")


def test_client_tells_refused_from_lost_after_sending(sim):
    client = MojaloopClient(sim.url, timeout=2)
    sim.outage(400, mode="refuse")
    time.sleep(0.1)  # the simulator closes its listening socket within 50 ms
    refused = _request("22997000001")
    assert client.transfer(refused).outcome == Outcome.NOT_SENT
    time.sleep(0.4)
    assert sim.stats()["totals"]["posts"] == 0
    sim.outage(1000, mode="drop")  # read, never answered: it may have been paid
    lost = _request("22997000002")
    result = client.transfer(lost)
    assert result.outcome == Outcome.UNKNOWN and "connection" in result.detail
    sim.outage(0, mode="drop")
    assert sim.stats()["totals"]["posts"] == 1


def test_a_kept_alive_connection_that_dies_unanswered_is_one_send_and_unknown(sim):
    """libcurl would resend a request by itself on a fresh connection when a kept-alive one
    died without an answer; the client refuses that: one call, one send, UNKNOWN."""
    client = MojaloopClient(sim.url, timeout=2)
    assert client.transfer(_request("22997000001")).outcome == Outcome.COMPLETED  # connection kept
    sim.outage(1000, mode="drop")
    lost = _request("22997000002")
    result = client.transfer(lost)
    assert result.outcome == Outcome.UNKNOWN and "connection" in result.detail
    sim.outage(0, mode="drop")
    assert sim.stats()["totals"]["posts"] == 2  # the first row, and the lost one once


def test_refused_connections_are_sent_again_at_once_with_the_same_transfer_id(ctx, sim):
    # Every answer closes its connection, and a new connection now and then opens a window in
    # which nothing listens: many requests are refused before they leave.
    sim.configure(close_rate=1.0, refuse_rate=0.3, refuse_ms=30, seed=7)
    batch_id = make_approved_batch(msisdns(40), amount=1000)
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    time.sleep(0.1)
    sim.configure(close_rate=0.0, refuse_rate=0.0)
    time.sleep(0.1)  # past any refusal window this call opened
    stats = sim.stats()
    assert stats["totals"]["refusal_windows"] > 0
    batch = fresh_batch(batch_id)
    rows = row_map(batch_id).values()
    refused = [r for r in rows if r.refusals]
    assert refused, "no request was refused: the test proves nothing"
    # Refused rows went out again at once: one send that left (attempts 1), no status check.
    assert batch.status == BatchStatus.COMPLETED, {r.status for r in rows}
    assert all(r.attempts == 1 for r in refused if not r.status_checks)
    assert any(not r.status_checks for r in refused), "refused rows were sent again without a status check"
    assert set(stats["commits"].values()) == {1} and stats["totals"]["commits"] == 40
    ok, figures = ledger_consistent()
    assert ok and figures["reserved"] == 0, figures


def test_one_job_pays_every_chunk_and_the_others_find_nothing(ctx, sim):
    batch_id = make_approved_batch(msisdns(12), amount=1000)
    chunks.start_processing(batch_id)  # three chunks of four rows
    queue = ctx.get_queue()
    assert queue.count == 3
    job = queue.jobs[0]
    job.perform()  # the first chunk's job keeps claiming past its chunk
    assert {r.status for r in row_map(batch_id).values()} == {RowStatus.COMPLETED.value}
    assert fresh_batch(batch_id).status == BatchStatus.COMPLETED
    queue.remove(job)
    run_jobs(ctx)  # the two other jobs end at once
    assert sim.stats()["totals"]["posts"] == 12
    assert ledger_consistent()[0]


def test_an_adapter_that_answers_nothing_pauses_sending_instead_of_losing_the_batch(ctx, sim):
    """During an outage that reads and drops requests, the job stops after a run of unknown
    outcomes and probes with one row at a time: most rows wait, PENDING-like, and are paid
    once the adapter answers again, instead of all becoming unknown."""
    batch_id = make_approved_batch(msisdns(300), amount=1000)
    sim.outage(1500, mode="drop")
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.COMPLETED
    rows = row_map(batch_id).values()
    settled_by_status = [r for r in rows if r.status_checks]
    # The trip (16) plus what was in flight (2 x concurrency) plus one probe per pause.
    assert 16 <= len(settled_by_status) <= 16 + 8 + 12, len(settled_by_status)
    stats = sim.stats()
    assert set(stats["commits"].values()) == {1} and stats["totals"]["commits"] == 300
    ok, figures = ledger_consistent()
    assert ok and figures["reserved"] == 0, figures


def test_breaker_opens_after_a_run_of_unknown_outcomes_and_probes_with_a_status_request_then_one_row():
    from backoffice.services.bulk.breaker import (
        ROW_PROBE_PAUSE,
        STATUS_PROBE_SECONDS,
        TRIP_AFTER,
        Breaker,
        State,
    )

    breaker = Breaker()
    for row_id in range(TRIP_AFTER - 1):
        breaker.outcome(row_id, answered=False, now=0.0)
    breaker.outcome(99, answered=True, now=0.0)  # an answer in between: the run starts again
    for row_id in range(TRIP_AFTER):
        assert breaker.may_send(0.0)
        breaker.outcome(row_id, answered=False, now=0.0)
    # Open: no row goes out; a status request (which pays nothing) is the probe.
    assert breaker.state == State.OPEN and not breaker.may_send(10.0)
    assert not breaker.wants_status_probe(0.0) and breaker.wants_status_probe(STATUS_PROBE_SECONDS)
    breaker.status_probe_sent()
    assert breaker.wake_in(1.0) is None
    breaker.outcome(3, answered=True, now=0.3)  # a late answer of an older send: ignored
    breaker.status_probe(answered=False, now=0.3)  # dropped: ask again later
    assert breaker.state == State.OPEN and breaker.wake_in(0.3) == pytest.approx(STATUS_PROBE_SECONDS)
    breaker.status_probe_sent()
    breaker.status_probe(answered=True, now=0.6)  # the adapter answers: one row may go
    assert breaker.state == State.HALF_OPEN and breaker.may_send(0.6)
    breaker.sent(500)
    assert not breaker.may_send(0.6)
    breaker.outcome(500, answered=False, now=0.7)  # status answered, transfers not: open again
    assert breaker.state == State.OPEN
    breaker.status_probe_sent()
    breaker.status_probe(answered=True, now=1.0)
    assert not breaker.may_send(1.0) and breaker.may_send(0.7 + ROW_PROBE_PAUSE)  # rows wait longer
    breaker.sent(501)
    breaker.outcome(501, answered=True, now=1.3)
    assert breaker.closed and breaker.may_send(1.3)


def test_a_database_that_goes_away_for_a_moment_is_waited_for_and_no_outcome_is_lost(ctx, sim, monkeypatch):
    """A PostgreSQL restart under a paying job: its writes fail for a moment, then succeed; the
    outcomes it held are written then, and no row needs a status check."""
    from sqlalchemy.exc import OperationalError

    from backoffice.services.bulk import sending

    monkeypatch.setattr(sending, "DATABASE_RETRY_SECONDS", 0.01)
    real = sending.record_outcomes
    failures = {"left": 3}

    def flaky(*args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            # As SQLAlchemy raises a connection lost in use: its dialect flags it invalidated.
            raise OperationalError(
                "UPDATE batch_rows",
                {},
                Exception("server closed the connection unexpectedly"),
                connection_invalidated=True,
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(sending, "record_outcomes", flaky)
    batch_id = make_approved_batch(msisdns(12), amount=1000)
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    assert failures["left"] == 0
    assert fresh_batch(batch_id).status == BatchStatus.COMPLETED
    rows = row_map(batch_id).values()
    assert all(r.status_checks == 0 and r.attempts == 1 for r in rows)
    assert sim.stats()["totals"]["status_checks"] == 0
    ok, figures = ledger_consistent()
    assert ok and figures["reserved"] == 0, figures


def test_an_error_that_is_not_a_lost_database_is_not_retried(ctx):
    from sqlalchemy.exc import OperationalError

    from backoffice.services.bulk import sending

    calls = []

    def locked():
        calls.append(1)
        raise OperationalError("UPDATE", {}, Exception("database is locked"))

    with pytest.raises(OperationalError):
        sending._riding_through(locked)
    assert len(calls) == 1


def test_a_database_that_refuses_new_connections_is_waited_for(ctx, monkeypatch):
    """A restart seen at connect time ("connection refused", "starting up"): no connection was
    invalidated, the message tells, and the write is tried again."""
    from sqlalchemy.exc import OperationalError

    from backoffice.services.bulk import sending

    monkeypatch.setattr(sending, "DATABASE_RETRY_SECONDS", 0.01)
    answers = [
        OperationalError("connect", {}, Exception('connection to server at "127.0.0.1" failed: Connection refused')),
        OperationalError("connect", {}, Exception("FATAL:  the database system is starting up")),
    ]

    def write():
        if answers:
            raise answers.pop(0)
        return "written"

    assert sending._riding_through(write) == "written"
    assert not answers
