"""Rows "À vérifier" (NEEDS_REVIEW) of a bulk batch: a person rechecks them or decides.

A real batch is paid through the RQ job in this process against the Mojaloop simulator over
HTTP until a row spends its status-check budget; then the gestionnaire's routes settle it.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import AuditEvent
from backoffice.models.batches import Batch, BatchEvent, BatchStatus, RowStatus
from backoffice.services.bulk import chunks, review, sending
from tests.conftest import login
from tests.factories import entries, fresh_batch, ledger_consistent, make_approved_batch, msisdns, row_map
from tests.support import FAST_PROCESSING, Sim, configured_app, run_jobs

REVIEW_FAST = {**FAST_PROCESSING, "BATCH_STATUS_CHECK_BUDGET": 2, "BATCH_STATUS_BACKOFF_SECONDS": 0.05}


@pytest.fixture
def ctx(app, demo, sim):
    with configured_app(app, REVIEW_FAST, sim.url) as configured:
        yield configured


def _review_batch(sim: Sim, ctx, commit_delay_ms: int) -> tuple[int, str]:
    """Two rows paid, one 504 whose status stays RESERVED past the budget → NEEDS_REVIEW."""
    sim.configure(commit_delay_ms=commit_delay_ms)
    batch_id = make_approved_batch([*msisdns(2), "22997000504"], amount=[1000, 1000, 7000])
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.PARTIALLY_COMPLETED
    row = row_map(batch_id)["22997000504"]
    assert row.status == RowStatus.NEEDS_REVIEW and not row.settled
    assert batch.reserved_amount == 7000
    ok, figures = ledger_consistent(batch.account.account_id)
    assert ok and figures["reserved"] == 7000, figures
    return batch_id, batch.reference


def _as(client, email: str) -> None:
    client.delete_cookie("session")
    with client.session_transaction() as session:
        session.clear()
    assert login(client, email).status_code == 302


def test_recheck_committed_transfer_completes_the_row_and_the_batch(ctx, sim, client):
    batch_id, reference = _review_batch(sim, ctx, commit_delay_ms=1500)
    row = row_map(batch_id)["22997000504"]
    time.sleep(1.6)  # the switch commits it now
    _as(client, "gestionnaire1@cnss.bj")
    page = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert "Revérifier" in page and "Confirmer payé" in page and "Confirmer non payé" in page
    response = client.post(f"/batches/{batch_id}/rows/{row.id}/recheck", data={})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/batches/{batch_id}")
    assert "confirme le paiement" in client.get(f"/batches/{batch_id}").get_data(as_text=True)

    row = row_map(batch_id)["22997000504"]
    assert row.status == RowStatus.COMPLETED and row.settled and row.completed_at and row.payee_name
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.COMPLETED and batch.reserved_amount == 0
    sums = entries(reference)
    assert sums["RESERVE"] == 9000 and sums["RELEASE"] == 9000 and sums["DEBIT"] == 9000
    ok, figures = ledger_consistent(batch.account.account_id)
    assert ok and figures["reserved"] == 0, figures
    assert sim.stats()["posts"][row.transfer_id] == 1  # checked, never resent
    event = db.session.scalar(
        select(BatchEvent).where(BatchEvent.batch_id == batch_id, BatchEvent.action == "row_rechecked")
    )
    assert event.user_id is not None and event.details["outcome"] == "COMPLETED"
    assert event.details["batch_status"] == "COMPLETED" and event.details["still_reserved"] == 0
    audit_event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "batch.row_rechecked"))
    assert audit_event.details["row"] == row.id and audit_event.details["outcome"] == "COMPLETED"

    # Decided: no more buttons, and a second decision is refused.
    page = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert "Revérifier" not in page
    client.post(f"/batches/{batch_id}/rows/{row.id}/resolve", data={"outcome": "FAILED", "note": "x"})
    assert row_map(batch_id)["22997000504"].status == RowStatus.COMPLETED
    assert "pas à vérifier" in client.get(f"/batches/{batch_id}").get_data(as_text=True)


def test_recheck_still_unknown_stays_reserved_then_resolve_failed(ctx, sim, client):
    batch_id, reference = _review_batch(sim, ctx, commit_delay_ms=60_000)
    row = row_map(batch_id)["22997000504"]
    _as(client, "gestionnaire1@cnss.bj")
    client.post(f"/batches/{batch_id}/rows/{row.id}/recheck", data={})
    assert "toujours inconnue" in client.get(f"/batches/{batch_id}").get_data(as_text=True)
    row = row_map(batch_id)["22997000504"]
    assert row.status == RowStatus.NEEDS_REVIEW and not row.settled and row.status_checks == 3
    assert fresh_batch(batch_id).reserved_amount == 7000

    # No note: refused in French, nothing changes.
    client.post(f"/batches/{batch_id}/rows/{row.id}/resolve", data={"outcome": "FAILED", "note": "  "})
    assert "Une note est obligatoire" in client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert row_map(batch_id)["22997000504"].status == RowStatus.NEEDS_REVIEW

    _as(client, "gestionnaire2@cnss.bj")
    response = client.post(
        f"/batches/{batch_id}/rows/{row.id}/resolve",
        data={"outcome": "FAILED", "note": "Opérateur : transfert non reçu."},
    )
    assert response.status_code == 302
    row = row_map(batch_id)["22997000504"]
    assert row.status == RowStatus.FAILED and row.settled and row.fee == 0
    assert "transfert non reçu" in row.error_description
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.PARTIALLY_COMPLETED and batch.reserved_amount == 0
    sums = entries(reference)
    assert sums["RESERVE"] == 9000 and sums["RELEASE"] == 9000 and sums["DEBIT"] == 2000
    ok, figures = ledger_consistent(batch.account.account_id)
    assert ok and figures["reserved"] == 0, figures
    event = db.session.scalar(
        select(BatchEvent).where(BatchEvent.batch_id == batch_id, BatchEvent.action == "row_resolved")
    )
    assert event.details["note"] == "Opérateur : transfert non reçu." and event.details["outcome"] == "FAILED"
    audit_event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "batch.row_resolved"))
    assert audit_event.details["outcome"] == "FAILED" and audit_event.details["note"].startswith("Opérateur")
    assert sim.stats()["posts"][row.transfer_id] == 1

    # The dashboard's rollup of this final batch is queued again and now counts the row failed.
    from backoffice.models.rollups import BatchDayStats

    job = ctx.get_queue().fetch_job(f"dashboard-rollup-{batch_id}")
    assert job is not None and job.get_status() == "queued"
    run_jobs(ctx)
    db.session.expire_all()
    stats = db.session.scalars(select(BatchDayStats).where(BatchDayStats.batch_id == batch_id)).all()
    by_status = {}
    for s in stats:
        by_status[s.status] = by_status.get(s.status, 0) + s.amount
    assert by_status == {"COMPLETED": 2000, "FAILED": 7000}


def test_resolve_paid_on_a_batch_of_only_review_rows(ctx, sim):
    """FAILED batch (nothing completed) → a row confirmed paid makes it PARTIALLY_COMPLETED."""
    from backoffice.models import User

    sim.configure(commit_delay_ms=60_000)
    batch_id = make_approved_batch(["22997000504", "22997010504"], amount=[3000, 4000])
    chunks.start_processing(batch_id)
    run_jobs(ctx)
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.FAILED and batch.reserved_amount == 7000
    rows = row_map(batch_id)
    g1 = db.session.scalar(select(User).where(User.email == "gestionnaire1@cnss.bj"))
    superviseur = db.session.scalar(select(User).where(User.email == "superviseur@cnss.bj"))
    next_g = db.session.scalar(select(User).where(User.email == "gestionnaire@next.mr"))
    first = rows["22997000504"].id
    for who in (superviseur, next_g):
        with pytest.raises(review.PermissionDenied):
            review.resolve_row(who, first, "COMPLETED", "vu")
    with pytest.raises(review.ServiceError, match="Une note est obligatoire"):
        review.resolve_row(g1, first, "COMPLETED", "")
    with pytest.raises(review.ServiceError, match="Choisissez"):
        review.resolve_row(g1, first, "PEUT-ETRE", "vu")

    result = review.resolve_row(g1, first, "COMPLETED", "Relevé de l'opérateur du 25/11.")
    assert result.outcome == "COMPLETED" and result.batch_status == BatchStatus.PARTIALLY_COMPLETED
    batch = fresh_batch(batch_id)
    assert batch.reserved_amount == 4000  # the other row still waits for a person
    assert ledger_consistent(batch.account.account_id)[0]
    review.resolve_row(g1, rows["22997010504"].id, "COMPLETED", "Relevé de l'opérateur du 25/11.")
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.COMPLETED and batch.reserved_amount == 0
    sums = entries(batch.reference)
    assert sums["DEBIT"] == 7000 and sums["RELEASE"] == 7000
    ok, figures = ledger_consistent(batch.account.account_id)
    assert ok and figures["reserved"] == 0, figures


def _prepared_row(demo) -> tuple[int, int]:
    from backoffice.models.batches import BatchRow

    batch_id = make_approved_batch(["22997000504"], amount=1000)
    row = db.session.scalar(select(BatchRow).where(BatchRow.batch_id == batch_id))
    row.status = RowStatus.NEEDS_REVIEW.value
    db.session.get(Batch, batch_id).status = BatchStatus.FAILED.value
    db.session.commit()
    return batch_id, row.id


@pytest.mark.parametrize("action", ["recheck", "resolve"])
def test_superviseur_403_other_org_404_wrong_batch_404(app, demo, client, action):
    with app.app_context():
        batch_id, row_id = _prepared_row(demo)
        other_batch, other_row = _prepared_row(demo)
    data = {"outcome": "FAILED", "note": "vu"}
    _as(client, "superviseur@cnss.bj")
    assert client.post(f"/batches/{batch_id}/rows/{row_id}/{action}", data=data).status_code == 403
    page = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert "À vérifier" in page and "Revérifier" not in page and "Confirmer payé" not in page
    _as(client, "gestionnaire@next.mr")
    assert client.post(f"/batches/{batch_id}/rows/{row_id}/{action}", data=data).status_code == 404
    _as(client, "gestionnaire1@cnss.bj")
    # A row of another batch under this batch's URL.
    assert client.post(f"/batches/{batch_id}/rows/{other_row}/{action}", data=data).status_code == 404
    with app.app_context():
        assert {r.status for r in row_map(batch_id).values()} == {RowStatus.NEEDS_REVIEW.value}
        assert {r.status for r in row_map(other_batch).values()} == {RowStatus.NEEDS_REVIEW.value}


def test_recheck_aborted_fails_the_row_and_ends_a_processing_batch(ctx, sim):
    """The switch says ABORTED: FAILED, its share released; the batch still PROCESSING ends."""
    from backoffice.clients.mojaloop import Party, TransferRequest
    from backoffice.models import User
    from backoffice.models.batches import BatchRow

    batch_id = make_approved_batch(["22997000500"], amount=5000)
    row = db.session.scalar(select(BatchRow).where(BatchRow.batch_id == batch_id))
    row.status, row.status_checks = RowStatus.NEEDS_REVIEW.value, 2
    db.session.get(Batch, batch_id).status = BatchStatus.PROCESSING.value
    db.session.commit()
    # The payee rejects this transfer at the switch (as if our first send had got through).
    payer = Party("BUSINESS", "CNSS-BJ", "CNSS", "BUSINESS")
    request = TransferRequest(
        row.transfer_id, row.home_transaction_id, payer, Party("MSISDN", "22997000500"), 5000, "XOF"
    )
    assert sending.get_client().transfer(request).outcome == "FAILED"

    g1 = db.session.scalar(select(User).where(User.email == "gestionnaire1@cnss.bj"))
    result = review.recheck_row(g1, row.id)
    assert result.outcome == "FAILED"
    row = row_map(batch_id)["22997000500"]
    assert row.status == RowStatus.FAILED and row.settled and row.error_code
    batch = fresh_batch(batch_id)
    assert batch.status == BatchStatus.FAILED and batch.reserved_amount == 0
    sums = entries(batch.reference)
    assert sums["RELEASE"] == 5000 and "DEBIT" not in sums
    ok, figures = ledger_consistent(batch.account.account_id)
    assert ok and figures["reserved"] == 0, figures
    actions = db.session.scalars(select(BatchEvent.action).where(BatchEvent.batch_id == batch_id)).all()
    assert actions == ["row_rechecked", "processing_finished"]


@pytest.mark.browser
def test_decide_a_row_in_the_browser(ctx, sim, live_server, page):
    """The review form as a person uses it: the note is required, the confirm prompt, the outcome shown."""
    from tests.conftest import browser_login

    batch_id, reference = _review_batch(sim, ctx, commit_delay_ms=60_000)
    row = row_map(batch_id)["22997000504"]
    prompts: list[str] = []
    page.on("dialog", lambda dialog: (prompts.append(dialog.message), dialog.accept()))
    browser_login(page, live_server, "gestionnaire2@cnss.bj")
    page.goto(f"{live_server}/batches/{batch_id}")
    review = page.locator(f"#review-{row.id}")
    review.locator("button:has-text('Confirmer non payé')").click()  # no note: the form is not sent
    page.wait_for_load_state("networkidle")
    assert review.count() == 1 and row_map(batch_id)["22997000504"].status == RowStatus.NEEDS_REVIEW
    prompts.clear()
    review.locator(f"#note-{row.id}").fill("Opérateur : transfert non reçu (appel du 25/11).")
    review.locator("button:has-text('Confirmer non payé')").click()
    page.wait_for_load_state("networkidle")
    assert any("n'a pas été payé" in prompt for prompt in prompts)
    assert page.locator(f"#review-{row.id}").count() == 0
    assert "transfert non reçu" in page.content()
    assert page.inner_text("#batch-status") == "Partiellement terminé"
    row = row_map(batch_id)["22997000504"]
    assert row.status == RowStatus.FAILED and row.settled
    assert fresh_batch(batch_id).reserved_amount == 0
