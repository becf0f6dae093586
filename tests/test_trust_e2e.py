"""End to end (issue 11): a real `flask worker` verifies payees and pays through the simulator.

Verification flags a discordant name and a party not found; the approver must acknowledge;
the failed row is re-paid alone in a linked draft; a re-saved copy of the file and the
beneficiaries paid earlier in the month are flagged by the guard (PostgreSQL).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models.audit import AuditEvent
from backoffice.models.batches import Batch, BatchStatus
from backoffice.services import ServiceError
from backoffice.services.bulk import approval, drafts, guard, verification
from tests.factories import entries, fresh_batch, import_bytes, ledger_consistent, row_map, user
from tests.test_processing_e2e import WORKER_ENV as PROCESSING_WORKER_ENV

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

G1, G2 = "gestionnaire1@cnss.bj", "gestionnaire2@cnss.bj"
WORKER_ENV = {
    **PROCESSING_WORKER_ENV,
    "VERIFY_CONCURRENCY": "4",
    "VERIFY_BACKOFF_SECONDS": "0.05",
    "VERIFY_RETRY_BUDGET_SECONDS": "1",
}
FILE = (
    b"type_id,valeur_id,devise,montant,nom_complet\n"
    b"MSISDN,2290197000001,XOF,5000,Awa Dossou\n"
    b"MSISDN,2290197000500,XOF,6000,Rejet Payeur\n"  # the payee rejects the transfer (5104)
    b"MSISDN,2290197000002,XOF,7000,Koffi Agossou\n"  # registered under another name
    b"MSISDN,2290197000404,XOF,8000,Personne\n"  # no such party
)
# The same rows re-saved from a spreadsheet: semicolons, CRLF, other column order, "5 000".
RESAVED = (
    "nom_complet;montant;valeur_id;type_id;devise\r\n"
    "Koffi Agossou;7 000;2290197000002;MSISDN;XOF\r\n"
    "Awa Dossou;5 000;2290197000001;MSISDN;XOF\r\n"
    "Personne;8000;2290197000404;MSISDN;XOF\r\n"
    "Rejet Payeur;6000;2290197000500;MSISDN;XOF\r\n"
).encode("cp1252")


@pytest.fixture
def e2e(app, sim, start_process):
    sim.configure(
        party_names={
            "2290197000001": "AWA DOSSOU",
            "2290197000500": "Rejet Payeur",
            "2290197000002": "Jean Houngbédji",
        }
    )
    saved = {k: app.config[k] for k in ("BATCH_VERIFY_REQUIRED", "BATCH_CHUNK_SIZE", "MOJALOOP_SDK_URL")}
    app.config.update(BATCH_VERIFY_REQUIRED=True, BATCH_CHUNK_SIZE=10, MOJALOOP_SDK_URL=sim.url)
    start_process("worker", env={**WORKER_ENV, "MOJALOOP_SDK_URL": sim.url})
    yield sim
    app.config.update(saved)


def _wait(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        value = predicate()
        db.session.commit()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _verify(batch_id: int) -> Batch:
    verification.start_verification(user(G1), batch_id)
    return _wait(
        lambda: (b := db.session.get(Batch, batch_id)).verification_status == "DONE" and b, what="verification"
    )


def _final(batch_id: int) -> Batch:
    return _wait(lambda: (b := db.session.get(Batch, batch_id)).is_final and b, timeout=90, what="payment")


def test_verify_acknowledge_pay_repay_and_guard(app, demo, e2e):
    with app.app_context():
        batch_id = import_bytes(demo, FILE)
        with pytest.raises(ServiceError, match="doivent être vérifiés"):
            approval.submit_batch(user(G1), batch_id, exclude_invalid=True)

        # Verification in the worker: a discordant name, a party not found.
        batch = _verify(batch_id)
        rows = row_map(batch_id)
        assert rows["2290197000001"].name_match == "CONCORDANT"
        assert (rows["2290197000002"].lookup_name, rows["2290197000002"].name_match) == (
            "Jean Houngbédji",
            "DISCORDANT",
        )
        assert rows["2290197000404"].status == "INVALID"
        assert "Bénéficiaire introuvable" in rows["2290197000404"].errors[-1]["message"]
        assert (batch.valid_count, batch.invalid_count) == (3, 1)

        approval.submit_batch(user(G1), batch_id, exclude_invalid=True)
        with pytest.raises(ServiceError, match="au nom discordant"):
            approval.approve_batch(user(G2), batch_id)
        approval.approve_batch(user(G2), batch_id, "Koffi Agossou a changé de nom : pièce vérifiée.")
        audited = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "batch.acknowledged", AuditEvent.object_id == str(batch_id))
        )
        assert audited.details["discordant"] == 1 and audited.details["reason"].startswith("Koffi Agossou")

        paid = _final(batch_id)
        assert paid.status == BatchStatus.PARTIALLY_COMPLETED and paid.reserved_amount == 0
        rows = row_map(batch_id)
        assert rows["2290197000500"].status == "FAILED"
        assert {rows[x].status for x in ("2290197000001", "2290197000002")} == {"COMPLETED"}

        # Re-pay the failed row alone: a linked draft, new transferId, verified and approved again.
        e2e.configure(reject_suffixes=[])
        repay = drafts.repay_failed_rows(user(G1), batch_id)
        db.session.commit()
        repay_rows = row_map(repay.id)
        assert list(repay_rows) == ["2290197000500"]
        assert repay_rows["2290197000500"].transfer_id != rows["2290197000500"].transfer_id
        _verify(repay.id)
        approval.submit_batch(user(G1), repay.id)
        assert row_map(repay.id)["2290197000500"].already_paid is None  # a failed payment is no payment
        approval.approve_batch(user(G2), repay.id)
        assert _final(repay.id).status == BatchStatus.COMPLETED
        posts = e2e.stats()["posts"]
        assert posts[repay_rows["2290197000500"].transfer_id] == 1
        assert posts[rows["2290197000001"].transfer_id] == 1  # the paid rows were not sent again
        assert sum(posts.values()) == 4  # 3 rows of the batch + 1 re-paid row
        sums = entries(fresh_batch(repay.id).reference)
        assert sums["RESERVE"] == sums["DEBIT"] == 6000
        ok, figures = ledger_consistent()
        assert ok, figures

        # The same file re-saved, later in the month: same content, and every payee already paid.
        again = import_bytes(demo, RESAVED, file_name="decembre-resauve.csv")
        assert [b.id for b in guard.same_content_batches(fresh_batch(again))] == [batch_id]
        _verify(again)
        approval.submit_batch(user(G1), again, exclude_invalid=True)
        flagged = {v: r.already_paid for v, r in row_map(again).items() if r.already_paid}
        assert set(flagged) == {"2290197000001", "2290197000002", "2290197000500"}
        assert flagged["2290197000500"]["reference"] == fresh_batch(repay.id).reference
        assert flagged["2290197000001"]["reference"] == fresh_batch(batch_id).reference
        with pytest.raises(
            ServiceError, match="3\u00a0lignes déjà payées pour cette période ; contenu identique"
        ):
            approval.approve_batch(user(G2), again)
        assert fresh_batch(again).status == "PENDING_APPROVAL"
