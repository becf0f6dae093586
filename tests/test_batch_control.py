"""Pausing, resuming and cancelling a batch being paid: services, pages, and the ledger.

In-process RQ jobs against the simulator over HTTP (SQLite and PostgreSQL); the end-to-end
run with real worker processes is in test_processing_pipeline_e2e.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import AuditEvent, User
from backoffice.models.batches import BatchEvent, BatchStatus, RowStatus
from backoffice.services import ServiceError
from backoffice.services.bulk import chunks, control, sweep
from tests.factories import entries, fresh_batch, ledger_consistent, make_approved_batch, msisdns, row_map
from tests.support import FAST_PROCESSING, configured_app, run_jobs


@pytest.fixture
def ctx(app, demo, sim):
    with configured_app(app, FAST_PROCESSING, sim.url) as configured:
        yield configured


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _actions(batch_id: int) -> list[str]:
    return list(db.session.scalars(select(BatchEvent.action).where(BatchEvent.batch_id == batch_id)))


def _audited(action: str) -> int:
    return len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_pause_stops_claims_survives_the_sweep_then_resume_pays_everything(ctx, sim):
    batch_id = make_approved_batch(msisdns(6), amount=1000)
    chunks.start_processing(batch_id)
    control.pause_batch(_user("gestionnaire1@cnss.bj"), batch_id)
    assert fresh_batch(batch_id).status == BatchStatus.PAUSED
    run_jobs(ctx)  # the queued chunk job finds nothing it may claim
    assert sweep.sweep()["chunks_requeued"] == 0  # a paused batch is not re-queued
    run_jobs(ctx)
    assert sim.stats()["totals"]["posts"] == 0
    assert {r.status for r in row_map(batch_id).values()} == {RowStatus.PENDING}
    assert fresh_batch(batch_id).status == BatchStatus.PAUSED

    control.resume_batch(_user("gestionnaire2@cnss.bj"), batch_id)
    run_jobs(ctx)
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.COMPLETED and batch.reserved_amount == 0
    assert set(sim.stats()["home_hits"].values()) == {1}
    assert ["paused", "resumed"] == [a for a in _actions(batch_id) if a in ("paused", "resumed")]
    assert _audited("batch.paused") == 1 and _audited("batch.resumed") == 1
    assert ledger_consistent()[0]


def test_pause_and_resume_refuse_the_wrong_state_and_other_roles(ctx, sim):
    batch_id = make_approved_batch(msisdns(2), amount=1000)
    gestionnaire = _user("gestionnaire1@cnss.bj")
    with pytest.raises(ServiceError, match="Approuvé"):
        control.pause_batch(gestionnaire, batch_id)  # not being paid yet
    chunks.start_processing(batch_id)
    with pytest.raises(ServiceError, match="En cours de paiement"):
        control.resume_batch(gestionnaire, batch_id)
    with pytest.raises(ServiceError):
        control.pause_batch(_user("superviseur@cnss.bj"), batch_id)
    with pytest.raises(ServiceError):
        control.pause_batch(_user("gestionnaire@next.mr"), batch_id)
    assert fresh_batch(batch_id).status == BatchStatus.PROCESSING


def test_cancel_needs_a_reason_then_cancels_unsent_rows_and_releases_them(ctx, sim):
    sim.configure(fee="10")
    batch_id = make_approved_batch(msisdns(5), amount=[1000, 2000, 3000, 4000, 5000])
    reference = fresh_batch(batch_id).reference
    chunks.start_processing(batch_id)
    gestionnaire = _user("gestionnaire2@cnss.bj")
    with pytest.raises(ServiceError, match="Motif"):
        control.cancel_processing(gestionnaire, batch_id, "   ")
    assert fresh_batch(batch_id).status == BatchStatus.PROCESSING

    control.cancel_processing(gestionnaire, batch_id, "Fichier erroné")
    run_jobs(ctx)  # nothing left to claim
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.CANCELLED and batch.reserved_amount == 0
    assert batch.cancelled_by_id == gestionnaire.id and batch.cancelled_at
    rows = row_map(batch_id).values()
    assert {r.status for r in rows} == {RowStatus.CANCELLED}
    assert all(r.settled and "Fichier erroné" in r.error_description for r in rows)
    assert sim.stats()["totals"]["posts"] == 0
    sums = entries(reference)
    assert sums["RESERVE"] == sums["RELEASE"] == 15000 and not sums.get("DEBIT")
    event = db.session.scalar(select(BatchEvent).where(BatchEvent.action == "processing_cancelled"))
    assert event.details["cancelled"] == 5 and event.details["reason"] == "Fichier erroné"
    assert _audited("batch.processing_cancelled") == 1
    ok, figures = ledger_consistent()
    assert ok and figures["reserved"] == 0, figures


def test_cancel_after_some_rows_were_paid_ends_partially_completed(ctx, sim):
    batch_id = make_approved_batch(msisdns(4), amount=1000)
    reference = fresh_batch(batch_id).reference
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    assert fresh_batch(batch_id).status == BatchStatus.COMPLETED
    # A second batch: paid halfway (two rows claimed and sent by hand), then cancelled.
    other = make_approved_batch(msisdns(4, prefix="2290"), amount=1000)
    chunks.start_processing(other)
    ctx.get_queue().empty()
    from backoffice.services.bulk import leases, sending
    from backoffice.services.bulk.outcomes import batch_context

    owner = leases.new_owner()
    leases.lease_keeper.hold(owner, ctx.get_queue().connection, 5)
    try:
        claimed = sending.claim_pending(other, 0, 2**62, owner, limit=2)
        control.cancel_processing(_user("gestionnaire1@cnss.bj"), other, "Doublon")
        assert fresh_batch(other).status == BatchStatus.CANCELLING  # two rows are in flight
        sending.pay_rows(batch_context(other), claimed, owner)
    finally:
        leases.lease_keeper.drop(owner)
    sweep.sweep()
    batch = fresh_batch(other)
    assert batch.status == BatchStatus.PARTIALLY_COMPLETED and batch.reserved_amount == 0
    counts = {}
    for r in row_map(other).values():
        counts[r.status] = counts.get(r.status, 0) + 1
    assert counts == {RowStatus.COMPLETED.value: 2, RowStatus.CANCELLED.value: 2}
    assert sim.stats()["totals"]["commits"] == 4 + 2
    assert entries(reference)["DEBIT"] == 4000
    assert ledger_consistent()[0]


def test_batch_page_buttons_and_routes(ctx, sim, login_as):
    batch_id = make_approved_batch(msisdns(3), amount=1000)
    chunks.start_processing(batch_id)
    client = login_as("gestionnaire1@cnss.bj")
    html = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert "Mettre en pause" in html and "Annuler le paiement" in html and "Motif de l'annulation" in html
    response = client.post(f"/batches/{batch_id}/pause", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Paiement mis en pause" in html and "Reprendre le paiement" in html
    assert fresh_batch(batch_id).status == BatchStatus.PAUSED
    response = client.post(f"/batches/{batch_id}/cancel-processing", data={"reason": ""}, follow_redirects=True)
    assert "Motif de l&#39;annulation : obligatoire." in response.get_data(as_text=True)
    assert fresh_batch(batch_id).status == BatchStatus.PAUSED
    client.post(f"/batches/{batch_id}/resume")
    assert fresh_batch(batch_id).status == BatchStatus.PROCESSING
    run_jobs(ctx)
    assert fresh_batch(batch_id).status == BatchStatus.COMPLETED


def test_superviseur_sees_no_buttons_and_cannot_pause(ctx, sim, login_as):
    batch_id = make_approved_batch(msisdns(2), amount=1000)
    chunks.start_processing(batch_id)
    client = login_as("superviseur@cnss.bj")
    assert "Mettre en pause" not in client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert client.post(f"/batches/{batch_id}/pause").status_code == 403
    assert fresh_batch(batch_id).status == BatchStatus.PROCESSING
