"""End to end, with real `flask worker` processes and the simulator over HTTP (PostgreSQL):
slow transfers never hold fast ones, a worker killed in the middle of a fast run pays nobody
twice, and a batch paused, carried over a worker restart, resumed and cancelled keeps an
exact ledger."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.batches import BatchStatus, RowStatus
from backoffice.services.bulk import chunks, control, outcomes
from tests.factories import fresh_batch, ledger_consistent, make_approved_batch, msisdns, row_map
from tests.support import kill_hard, wait_until
from tests.test_processing_e2e import WORKER_ENV as E2E_WORKER_ENV
from tests.test_processing_e2e import small_chunks  # noqa: F401 - the fixture

# Chunks of 10 rows, cut by start_processing in this process.
pytestmark = [pytest.mark.slow, pytest.mark.postgres_only, pytest.mark.usefixtures("small_chunks")]

# The end-to-end timings of test_processing_e2e, with a client timeout above the 15 s hang.
WORKER_ENV = {**E2E_WORKER_ENV, "MOJALOOP_TIMEOUT_SECONDS": "30"}


def counts(batch_id: int) -> dict[str, int]:
    found = outcomes.status_counts(batch_id)
    db.session.commit()
    return found


def assert_paid_once(batch_id: int, sim) -> dict:
    stats = sim.stats()
    assert set(stats["home_hits"].values()) <= {1}, "a row reached the adapter twice"
    assert set(stats["commits"].values()) <= {1}
    completed = counts(batch_id).get(RowStatus.COMPLETED.value, 0)
    assert stats["totals"]["commits"] == completed
    ok, figures = ledger_consistent()
    assert ok and figures["reserved"] == 0, figures
    return stats


def test_hanging_transfers_hold_only_their_own_slot(app, demo, sim, start_process):
    sim.configure(latency_ms=20, hang_ms=15000)
    hung = ["22997010499", "22997020499"]  # in the first chunk: a chunk barrier would hold the worker
    with app.app_context():
        batch_id = make_approved_batch([hung[0], *msisdns(58), hung[1]], amount=1000)
        start_process("worker", env={**WORKER_ENV, "MOJALOOP_SDK_URL": sim.url})
        chunks.start_processing(batch_id)
        wait_until(lambda: counts(batch_id).get(RowStatus.COMPLETED.value, 0) >= 58, timeout=60, message="fast rows")
        rows = row_map(batch_id)
        # Every other row of the batch (all six chunks) was paid while the two hung ones
        # still held their slots: the job kept claiming past its chunk.
        assert {rows[h].status for h in hung} == {RowStatus.SENDING.value}
        wait_until(lambda: fresh_batch(batch_id).is_final, timeout=60, message="batch final")
        assert fresh_batch(batch_id).status == BatchStatus.COMPLETED
        assert_paid_once(batch_id, sim)


def test_worker_killed_in_a_fast_run_pays_nobody_twice(app, demo, sim, start_process):
    no_faults = {f"{kind}_suffixes": [] for kind in ("not_found", "reject", "timeout", "drop", "hang")}
    sim.configure(latency_ms=20, **no_faults)
    count = 600
    env = {**WORKER_ENV, "MOJALOOP_SDK_URL": sim.url, "BATCH_CONCURRENCY": "16", "BATCH_FLUSH_ROWS": "50"}
    with app.app_context():
        batch_id = make_approved_batch(msisdns(count), amount=1000)
        victim = start_process("worker", env=env)
        start_process("worker", env=env)
        chunks.start_processing(batch_id)
        wait_until(
            lambda: counts(batch_id).get(RowStatus.COMPLETED.value, 0) >= 150,
            timeout=60,
            interval=0.02,
            message="a quarter paid",
        )
        kill_hard(victim)
        start_process("worker", env=env)
        wait_until(lambda: fresh_batch(batch_id).is_final, timeout=120, message="batch final")
        batch = fresh_batch(batch_id)
        assert batch.status == BatchStatus.COMPLETED, counts(batch_id)
        stats = assert_paid_once(batch_id, sim)
        assert len(stats["home_hits"]) == count
        for row in row_map(batch_id).values():
            if row.attempts > 1:
                assert stats["status_checks"].get(row.transfer_id), "resent without a status check"


def test_pause_survives_a_worker_restart_then_resume_and_cancel_keep_the_ledger_exact(app, demo, sim, start_process):
    sim.configure(latency_ms=60, fee="5")
    count = 160
    env = {**WORKER_ENV, "MOJALOOP_SDK_URL": sim.url}
    with app.app_context():
        batch_id = make_approved_batch(msisdns(count), amount=1000)
        gestionnaire = db.session.scalar(select(User).where(User.email == "gestionnaire1@cnss.bj"))
        worker = start_process("worker", env=env)
        chunks.start_processing(batch_id)
        wait_until(lambda: counts(batch_id).get(RowStatus.COMPLETED.value, 0) >= 20, timeout=60, message="started")
        control.pause_batch(gestionnaire, batch_id)
        wait_until(
            lambda: (
                not (counts(batch_id).get(RowStatus.SENDING.value) or counts(batch_id).get(RowStatus.UNKNOWN.value))
            ),
            timeout=60,
            message="rows in flight settled",
        )
        paused = counts(batch_id)
        posts = sim.stats()["totals"]["posts"]
        assert paused.get(RowStatus.PENDING.value, 0) > 0, paused

        kill_hard(worker)
        worker = start_process("worker", env=env)
        time.sleep(4)  # the new worker's sweep runs at its start and every second
        assert fresh_batch(batch_id).status == BatchStatus.PAUSED
        assert counts(batch_id) == paused and sim.stats()["totals"]["posts"] == posts

        control.resume_batch(gestionnaire, batch_id)
        wait_until(
            lambda: counts(batch_id).get(RowStatus.COMPLETED.value, 0) >= paused[RowStatus.COMPLETED.value] + 20,
            timeout=60,
            message="resumed",
        )
        control.cancel_processing(gestionnaire, batch_id, "Montants à corriger")
        wait_until(lambda: fresh_batch(batch_id).is_final, timeout=60, message="batch final")
        batch = fresh_batch(batch_id)
        final = counts(batch_id)
        assert batch.status == BatchStatus.PARTIALLY_COMPLETED, final
        assert final.get(RowStatus.CANCELLED.value, 0) > 0 and set(final) <= {"COMPLETED", "CANCELLED"}, final
        stats = assert_paid_once(batch_id, sim)
        rows = row_map(batch_id).values()
        reached = set(stats["home_hits"])
        assert not {r.home_transaction_id for r in rows if r.status == RowStatus.CANCELLED.value} & reached
        assert all(r.settled for r in rows)
