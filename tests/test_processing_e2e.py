"""End to end: real `flask worker` processes pay a batch through the simulator (PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models.batches import Batch, BatchStatus, RowStatus
from backoffice.services.bulk import chunks, outcomes
from tests.factories import entries, ledger_consistent, make_approved_batch, msisdns, row_map
from tests.support import kill_hard

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

WORKER_ENV = {
    "BATCH_CHUNK_SIZE": "10",
    "BATCH_CONCURRENCY": "4",
    "BATCH_FLUSH_ROWS": "5",
    "BATCH_FLUSH_SECONDS": "0.3",
    "BATCH_STATUS_BACKOFF_SECONDS": "0.2",
    "BATCH_STATUS_BACKOFF_MAX_SECONDS": "0.5",
    "BATCH_STATUS_CHECK_BUDGET": "20",
    "BATCH_RESEND_GRACE_SECONDS": "1",
    "BATCH_LEASE_SECONDS": "2",
    "BATCH_SWEEP_SECONDS": "1",
    "BATCH_SETTLE_INLINE_SECONDS": "20",
    "MOJALOOP_TIMEOUT_SECONDS": "5",
}


@pytest.fixture
def small_chunks(app):
    """Chunks are cut by start_processing, in the approving process."""
    saved = app.config["BATCH_CHUNK_SIZE"]
    app.config["BATCH_CHUNK_SIZE"] = 10
    yield
    app.config["BATCH_CHUNK_SIZE"] = saved


def wait_final(batch_id: int, timeout: float = 90) -> Batch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        batch = db.session.get(Batch, batch_id)
        db.session.commit()
        if batch.is_final:
            return batch
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} still {batch.status} after {timeout}s: {outcomes.status_counts(batch_id)}")


def test_two_workers_pay_a_batch_partially(app, demo, sim, start_process, small_chunks):
    sim.configure(fee="15", commit_delay_ms=500)
    ids = [*msisdns(37), "22997000404", "22997000504", "22997000408"]
    with app.app_context():
        batch_id = make_approved_batch(ids, amount=2500, skipped=2)
        reference = db.session.get(Batch, batch_id).reference
        env = {**WORKER_ENV, "MOJALOOP_SDK_URL": sim.url}
        start_process("worker", env=env)
        start_process("worker", env=env)
        chunks.start_processing(batch_id)
        batch = wait_final(batch_id)

        assert batch.status == BatchStatus.PARTIALLY_COMPLETED
        assert batch.reserved_amount == 0
        rows = row_map(batch_id)
        assert rows["22997000404"].status == RowStatus.FAILED
        assert rows["22997000404"].error_code == "3204"
        assert rows["22997000404"].error_description == "Party not found"
        assert rows["22997000504"].status == RowStatus.COMPLETED and rows["22997000504"].status_checks >= 1
        assert rows["22997000408"].status == RowStatus.COMPLETED and rows["22997000408"].attempts == 2
        completed = [r for r in rows.values() if r.status == RowStatus.COMPLETED]
        assert len(completed) == 39
        assert all(r.settled for r in completed)

        sums = entries(reference)
        assert sums["RESERVE"] == sums["RELEASE"] == 40 * 2500
        fees = sum(r.fee for r in completed)
        assert fees == 38 * 15  # the 504 row settled by status has no quote, so no fee
        assert sums["DEBIT"] == 39 * 2500 + fees
        ok, figures = ledger_consistent()
        assert ok, figures
        assert figures["reserved"] == 0

        stats = sim.stats()
        by_home = stats["home_hits"]
        resent = rows["22997000408"].home_transaction_id
        assert by_home.pop(resent) == 2  # resent only after the status said "not found"
        assert set(by_home.values()) == {1}
        assert set(stats["commits"].values()) == {1}
        assert stats["totals"]["commits"] == 39


def test_worker_killed_mid_batch_and_restarted_pays_nobody_twice(app, demo, sim, start_process, small_chunks):
    sim.configure(latency_ms=150)
    count = 160
    with app.app_context():
        batch_id = make_approved_batch(msisdns(count), amount=1000)
        env = {**WORKER_ENV, "MOJALOOP_SDK_URL": sim.url, "BATCH_CHUNK_SIZE": "20"}
        first = start_process("worker", env=env)
        chunks.start_processing(batch_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = outcomes.status_counts(batch_id)
            db.session.commit()
            if counts.get(RowStatus.COMPLETED.value, 0) >= 30 and counts.get(RowStatus.SENDING.value, 0):
                break
            time.sleep(0.05)
        kill_hard(first)  # SIGKILL, its RQ scheduler child too: a lost machine
        counts = outcomes.status_counts(batch_id)
        db.session.commit()
        assert counts.get(RowStatus.SENDING.value, 0) > 0, counts
        assert counts.get(RowStatus.PENDING.value, 0) > 0, counts

        start_process("worker", env=env)
        batch = wait_final(batch_id, timeout=120)
        assert batch.status == BatchStatus.COMPLETED, outcomes.status_counts(batch_id)
        assert batch.reserved_amount == 0
        rows = row_map(batch_id)
        stats = sim.stats()
        assert len(stats["home_hits"]) == count
        # Every row reached the simulator exactly once: the rows the dead worker had claimed
        # were settled by status first; those the switch never saw were then sent (attempt 2,
        # first real send); none was sent twice.
        assert set(stats["home_hits"].values()) == {1}, stats["home_hits"]
        for row in rows.values():
            if row.attempts > 1:
                assert stats["status_checks"].get(row.transfer_id), "resent without a status check"
        assert set(stats["commits"].values()) == {1}
        assert stats["totals"]["commits"] == count
        ok, figures = ledger_consistent()
        assert ok and figures["reserved"] == 0, figures
        took_over = [r for r in rows.values() if r.status_checks > 0]
        assert took_over, "the rows left SENDING were settled through the status endpoint"
        assert not db.session.scalars(select(Batch).where(Batch.status == BatchStatus.PROCESSING.value)).all()
