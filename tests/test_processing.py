"""Processing an approved batch: chunks, outcomes, settlement by status, ledger, final state.

These run the real RQ jobs in the test process (an rq SimpleWorker in burst mode) against
the simulator over HTTP, on SQLite and PostgreSQL; test_processing_e2e.py does the same
with separate worker processes.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import AuditEvent
from backoffice.models.base import utcnow
from backoffice.models.batches import BatchEvent, BatchRow, BatchStatus, RowStatus
from backoffice.services.bulk import chunks, leases, sending, sweep
from tests.factories import entries, fresh_batch, ledger_consistent, make_approved_batch, msisdns, row_map
from tests.support import FAST_PROCESSING, configured_app, run_jobs


@pytest.fixture
def ctx(app, demo, sim):
    """An app context configured for fast processing against the simulator."""
    with configured_app(app, FAST_PROCESSING, sim.url) as configured:
        yield configured


def test_partial_batch_with_3204_and_504_then_completed(ctx, sim):
    sim.configure(fee="10")
    ids = [*msisdns(6), "22997000404", "22997000504"]
    batch_id = make_approved_batch(ids, amount=[1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000], skipped=1)
    reference = fresh_batch(batch_id).reference
    chunks.start_processing(batch_id)
    assert fresh_batch(batch_id).status == BatchStatus.PROCESSING
    run_jobs(ctx)

    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.PARTIALLY_COMPLETED
    assert batch.completed_at and batch.processing_started_at
    assert batch.reserved_amount == 0
    rows = row_map(batch_id)
    failed = rows["22997000404"]
    assert failed.status == RowStatus.FAILED
    assert (failed.error_code, failed.error_description) == ("3204", "Party not found")
    late = rows["22997000504"]
    assert late.status == RowStatus.COMPLETED and late.status_checks >= 1 and late.attempts == 1
    assert late.payee_name  # looked up after the status check
    for value in msisdns(6):
        row = rows[value]
        assert row.status == RowStatus.COMPLETED and row.fee == 10 and row.payee_name and row.payee_fsp_id
        assert row.completed_at and row.settled and row.attempts == 1 and row.lease_owner is None
    assert rows["abc"].status == RowStatus.SKIPPED and not rows["abc"].settled

    # Ledger: completed rows debited with their fee, every reserved franc released.
    completed_amount = 1000 + 2000 + 3000 + 4000 + 5000 + 6000 + 8000
    sums = entries(reference)
    assert sums["RESERVE"] == 36000 and sums["RELEASE"] == 36000
    assert sums["DEBIT"] == completed_amount + 6 * 10  # no fee known for the 504 row
    ok, figures = ledger_consistent()
    assert ok, figures
    assert figures["reserved"] == 0

    # Every row reached the simulator exactly once.
    stats = sim.stats()
    assert sorted(stats["home_hits"].values()) == [1] * 8
    assert all(count == 1 for count in stats["commits"].values())
    events = db.session.scalars(select(BatchEvent.action).where(BatchEvent.batch_id == batch_id)).all()
    assert events == ["processing_started", "processing_finished"]
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "Batch")).all()
    assert "batch.finished" in actions and "batch.processing_started" in actions


def test_all_completed_in_accept_party_and_quote_mode(ctx, sim):
    sim.configure(auto_accept=False)
    ctx.config["MOJALOOP_AUTO_ACCEPT"] = False
    batch_id = make_approved_batch(msisdns(5), amount=1500)
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.COMPLETED and batch.reserved_amount == 0
    assert all(r.status == RowStatus.COMPLETED for r in row_map(batch_id).values())
    assert sim.stats()["totals"]["commits"] == 5
    assert ledger_consistent()[0]


def test_all_failed(ctx, sim):
    batch_id = make_approved_batch(["22997000404", "22997010404", "22997000500"], amount=1000)
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.FAILED and batch.reserved_amount == 0
    codes = sorted(r.error_code for r in row_map(batch_id).values())
    assert codes == ["3204", "3204", "5104"]
    ok, figures = ledger_consistent()
    assert ok and figures["reserved"] == 0 and "DEBIT" not in entries(fresh_batch(batch_id).reference)


def test_dropped_transfer_resent_with_same_id_after_not_found(ctx, sim):
    batch_id = make_approved_batch([*msisdns(2), "22997000408"], amount=1000)
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    assert fresh_batch(batch_id).status == BatchStatus.COMPLETED
    row = row_map(batch_id)["22997000408"]
    assert row.attempts == 2 and row.status == RowStatus.COMPLETED
    stats = sim.stats()
    assert stats["posts"][row.transfer_id] == 2  # resent only after "not found"
    assert stats["commits"][row.transfer_id] == 1
    assert ledger_consistent()[0]


def test_a_verified_row_settled_by_status_keeps_its_verified_name_without_a_new_lookup(ctx, sim):
    batch_id = make_approved_batch(["22997000504"], amount=1000)
    row = row_map(batch_id)["22997000504"]
    db.session.get(BatchRow, row.id).lookup_name = "AHOUANDJINOU Koffi"
    db.session.commit()
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    row = row_map(batch_id)["22997000504"]
    assert row.status == RowStatus.COMPLETED and row.status_checks >= 1
    assert row.payee_name == "AHOUANDJINOU Koffi"
    assert "22997000504" not in sim.stats()["party_lookups"]


def test_budget_spent_needs_review_and_keeps_its_share_reserved(ctx, sim):
    sim.configure(commit_delay_ms=60_000)  # the status says RESERVED for a minute
    ctx.config["BATCH_STATUS_CHECK_BUDGET"] = 2
    batch_id = make_approved_batch([*msisdns(2), "22997000504"], amount=[1000, 1000, 7000])
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.PARTIALLY_COMPLETED
    row = row_map(batch_id)["22997000504"]
    assert row.status == RowStatus.NEEDS_REVIEW and row.status_checks == 2 and not row.settled
    assert batch.reserved_amount == 7000
    ok, figures = ledger_consistent()
    assert ok and figures["reserved"] == 7000
    event = db.session.scalar(
        select(BatchEvent).where(BatchEvent.batch_id == batch_id, BatchEvent.action == "processing_finished")
    )
    assert "à vérifier" in event.message and event.details["still_reserved"] == 7000


def test_sweep_settles_rows_left_sending_by_a_dead_job(ctx, sim):
    """Rows SENDING under a lease nobody refreshes: status first, resend only if not found."""
    sim.configure(timeout_suffixes=[], drop_suffixes=[])
    batch_id = make_approved_batch(msisdns(4), amount=1000)
    chunks.start_processing(batch_id)
    queue = ctx.get_queue()
    queue.empty()  # the jobs are lost with the dead worker
    rows = list(db.session.scalars(select(BatchRow).where(BatchRow.batch_id == batch_id).order_by(BatchRow.id)))
    # The dead worker had sent the first two rows (the switch committed them), not the others.
    from backoffice.clients.mojaloop import MojaloopClient, Party, TransferRequest

    client = MojaloopClient(sim.url)
    for row in rows[:2]:
        client.transfer(
            TransferRequest(
                row.transfer_id,
                row.home_transaction_id,
                Party("BUSINESS", "X"),
                Party("MSISDN", row.party_id_value),
                row.amount,
                "XOF",
            )
        )
    for row in rows[:3]:
        row.status, row.lease_owner, row.attempts = RowStatus.SENDING.value, "dead-job@host:1", 1
        row.sending_since = row.sending_since or utcnow()
    db.session.commit()

    report = sweep.sweep()
    assert report["taken_over"] == 3 and report["chunks_requeued"] == 1 and report["settle_jobs"] == 1
    time.sleep(0.35)  # past the resend grace for the row the switch never saw
    run_jobs(ctx)
    sweep.sweep()
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.COMPLETED
    stats = sim.stats()
    assert all(hits == 1 for hits in stats["home_hits"].values()), stats["home_hits"]
    assert all(commits == 1 for commits in stats["commits"].values())
    assert stats["totals"]["commits"] == 4
    assert ledger_consistent()[0]


def test_live_lease_is_not_taken_over(ctx, sim):
    batch_id = make_approved_batch(msisdns(2), amount=1000)
    chunks.start_processing(batch_id)
    owner = leases.new_owner()
    leases.lease_keeper.hold(owner, ctx.get_queue().connection, 2)
    try:
        rows = sending.claim_pending(batch_id, 0, 10**9, owner)
        assert len(rows) == 2
        assert sweep.sweep()["taken_over"] == 0
        assert {r.status for r in row_map(batch_id).values()} == {RowStatus.SENDING}
    finally:
        leases.lease_keeper.drop(owner)
    assert sweep.sweep()["taken_over"] == 2


def test_rows_of_a_dead_process_on_this_machine_are_taken_over_before_its_lease_expires(ctx, sim):
    """A worker killed here (kill -9): its key lives on for BATCH_LEASE_SECONDS, but its pid
    is gone, so the next sweep takes its rows over at once."""
    import subprocess

    batch_id = make_approved_batch(msisdns(2), amount=1000)
    chunks.start_processing(batch_id)
    gone = subprocess.Popen(["true"])
    gone.wait()
    owner = leases.new_owner().rpartition(":")[0] + f":{gone.pid}"
    leases.lease_keeper.hold(owner, ctx.get_queue().connection, 60)
    try:
        assert len(sending.claim_pending(batch_id, 0, 10**9, owner)) == 2
        assert ctx.get_queue().connection.exists(leases.LEASE_PREFIX + owner)
        assert sweep.sweep()["taken_over"] == 2
    finally:
        leases.lease_keeper.drop(owner)
    assert {r.status for r in row_map(batch_id).values()} == {RowStatus.UNKNOWN}


def test_a_redis_younger_than_a_lease_takes_no_missing_key_for_a_dead_job(ctx, sim, monkeypatch):
    """Redis restarted empty: a running job's key is gone until its keeper puts it back, so a
    missing key says nothing for one lease (a process seen gone on this machine still is)."""
    batch_id = make_approved_batch(msisdns(2), amount=1000)
    chunks.start_processing(batch_id)
    owner = "job.abcdef12@elsewhere/1:4242"  # another machine: only its key tells
    assert len(sending.claim_pending(batch_id, 0, 10**9, owner)) == 2
    monkeypatch.setattr(leases, "_redis_uptime", lambda redis: 0.5)
    assert sweep.sweep()["taken_over"] == 0
    monkeypatch.setattr(leases, "_redis_uptime", lambda redis: 3600.0)
    assert sweep.sweep()["taken_over"] == 2


def test_start_processing_only_once(ctx, sim):
    batch_id = make_approved_batch(msisdns(3), amount=1000)
    chunks.start_processing(batch_id)
    chunks.start_processing(batch_id)
    assert ctx.get_queue().count == 1
    assert db.session.scalar(select(BatchEvent.id).where(BatchEvent.action == "processing_started"))


def test_chunks_cover_every_pending_row(ctx):
    batch_id = make_approved_batch(msisdns(10), amount=1000, skipped=2)
    assert chunks.chunk_ranges(batch_id, 4) == chunks.chunk_ranges(batch_id, 4)
    ranges = chunks.chunk_ranges(batch_id, 4)
    assert len(ranges) == 3
    ids = db.session.scalars(
        select(BatchRow.id).where(BatchRow.batch_id == batch_id, BatchRow.status == "PENDING").order_by(BatchRow.id)
    ).all()
    assert ranges[0] == (ids[0], ids[3]) and ranges[-1] == (ids[8], ids[9])


def test_progress_fragment_polls_then_stops_with_286(ctx, sim, login_as):
    client = login_as("superviseur@cnss.bj")
    batch_id = make_approved_batch([*msisdns(3), "22997000404"], amount=1000)
    chunks.start_processing(batch_id)
    response = client.get(f"/batches/{batch_id}/progress", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html and "style=" not in html
    assert 'data-status="PENDING">4<' in html
    run_jobs(ctx)
    # The requests share this test's app context, so Flask-Login's cached user would be the
    # one loaded before the jobs ended their sessions: load it afresh like a new request does.
    from flask import g

    g.pop("_login_user", None)
    response = client.get(f"/batches/{batch_id}/progress", headers={"HX-Request": "true"})
    assert response.status_code == 286
    html = response.get_data(as_text=True)
    assert "hx-trigger" not in html and "100 %" in html
    assert 'data-status="COMPLETED">3<' in html and 'data-status="FAILED">1<' in html
    assert "Partiellement terminé" in html


def test_progress_fragment_of_another_organisation_is_404(ctx, login_as):
    batch_id = make_approved_batch(msisdns(1), amount=1000)
    client = login_as("gestionnaire@next.mr")
    assert client.get(f"/batches/{batch_id}/progress").status_code == 404


def test_sweep_starts_an_approved_batch_whose_start_was_lost(ctx, sim):
    from datetime import timedelta

    batch_id = make_approved_batch(msisdns(2), amount=1000)
    batch = fresh_batch(batch_id)
    batch.approved_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert sweep.sweep()["started"] == 1
    run_jobs(ctx)
    assert fresh_batch(batch_id).status == BatchStatus.COMPLETED
