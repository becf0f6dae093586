"""Four-eyes lifecycle of a batch: submit, approve (reserving funds), reject, cancel."""

from __future__ import annotations

import html
import threading

import pytest
from sqlalchemy import create_engine, text

from backoffice.extensions import db
from backoffice.models import Account, AuditEvent, LedgerEntry
from backoffice.models.batches import BatchEvent
from backoffice.services import PermissionDenied, ServiceError
from backoffice.services.bulk import approval, chunks
from backoffice.services.ledger import InsufficientFunds
from tests.factories import PAYMENT_LIST, fresh_batch, import_bytes, rows_of, user

G1, G2, SUP, NEXT = "gestionnaire1@cnss.bj", "gestionnaire2@cnss.bj", "superviseur@cnss.bj", "gestionnaire@next.mr"
TOTAL = 35_000  # PAYMENT_LIST


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _flash_after(client, response) -> str:
    assert response.status_code == 302, response.status_code
    return _text(client.get(response.headers["Location"]))


@pytest.fixture
def draft(app, demo):
    """A valid draft uploaded by gestionnaire 1."""
    with app.app_context():
        return import_bytes(demo, PAYMENT_LIST)


@pytest.fixture
def pending(app, demo, draft):
    with app.app_context():
        approval.submit_batch(user(G1), draft)
    return draft


@pytest.fixture
def started(monkeypatch, services):
    """Record start_processing calls, and what a separate connection saw committed at that moment."""
    calls: list[tuple[int, str]] = []
    engine = create_engine(services["database_url"])

    def spy(batch_id: int) -> None:
        with engine.connect() as conn:
            status = conn.execute(text("SELECT status FROM batches WHERE id = :id"), {"id": batch_id}).scalar()
        calls.append((batch_id, status))

    monkeypatch.setattr(chunks, "start_processing", spy)
    yield calls
    engine.dispose()


def _reserved(app, demo, account="ACC-CNSS-001") -> int:
    with app.app_context():
        db.session.expire_all()
        return db.session.get(Account, demo["accounts"][account]).reserved


def _ledger_kinds(app) -> list[tuple[str, int, str]]:
    with app.app_context():
        entries = db.session.scalars(db.select(LedgerEntry).order_by(LedgerEntry.id)).all()
        return [(e.kind, e.amount, e.reference) for e in entries if e.kind != "TOPUP"]


def test_full_four_eyes_path_through_the_pages(app, client, login_as, demo, draft, started):
    login_as(G1)
    page = _text(client.get(f"/batches/{draft}"))
    assert "Soumettre pour approbation" in page and "Approuver" not in page
    page = _flash_after(client, client.post(f"/batches/{draft}/submit"))
    assert "Lot soumis pour approbation." in page
    assert "attend l'approbation d'un autre gestionnaire" in page
    assert "Approuver et payer" not in page

    # The uploader cannot approve, even by posting directly.
    page = _flash_after(client, client.post(f"/batches/{draft}/approve"))
    assert "Un lot doit être approuvé par un autre gestionnaire" in page
    assert batch_status(app, draft) == "PENDING_APPROVAL" and _reserved(app, demo) == 0 and started == []

    client.post("/deconnexion")
    login_as(G2)
    page = _text(client.get(f"/batches/{draft}"))
    assert "Approuver et payer" in page and "Rejeter le lot" in page and "Annuler le lot" not in page
    page = _flash_after(client, client.post(f"/batches/{draft}/approve"))
    assert "Lot approuvé : le paiement commence." in page

    with app.app_context():
        b = fresh_batch(draft)
        assert (b.status, b.reserved_amount, b.approved_by_id) == ("APPROVED", TOTAL, demo["users"][G2])
        assert b.approved_at is not None
        events = [e.action for e in db.session.scalars(db.select(BatchEvent).order_by(BatchEvent.id))]
        assert events == ["imported", "submitted", "approved"]
        audits = db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.action.like("batch.%"))).all()
        assert sorted(audits) == ["batch.approved", "batch.imported", "batch.submitted"]
    assert _reserved(app, demo) == TOTAL
    assert _ledger_kinds(app) == [("RESERVE", TOTAL, b.reference)]
    # Processing was queued once, after the approval was committed.
    assert started == [(draft, "APPROVED")]
    page = _text(client.get(f"/batches/{draft}"))
    assert "Historique du lot" in page and "Lot approuvé" in page and "Aïcha Dossou" in page


def batch_status(app, batch_id: int) -> str:
    with app.app_context():
        return fresh_batch(batch_id).status


def test_superviseur_sees_no_button_and_cannot_act(app, client, login_as, demo, pending):
    login_as(SUP)
    page = _text(client.get(f"/batches/{pending}"))
    assert "Lot LOT-" in page
    for label in (
        "Approuver et payer",
        "Rejeter le lot",
        "Annuler le lot",
        "Soumettre pour approbation",
        "Nouveau lot",
    ):
        assert label not in page
    for action in ("submit", "approve", "reject", "cancel"):
        assert client.post(f"/batches/{pending}/{action}", data={"reason": "non"}).status_code == 403
    assert client.get("/batches/new").status_code == 403
    assert batch_status(app, pending) == "PENDING_APPROVAL" and _reserved(app, demo) == 0


def test_another_organisation_gets_404_everywhere(app, client, login_as, demo, pending):
    login_as(NEXT)
    for path in ("", "/errors.csv", "/export.csv"):
        assert client.get(f"/batches/{pending}{path}").status_code == 404
    for action in ("submit", "approve", "reject", "cancel"):
        assert client.post(f"/batches/{pending}/{action}", data={"reason": "non"}).status_code == 404
    assert "LOT-" not in _text(client.get("/batches/"))
    with app.app_context(), pytest.raises(PermissionDenied):
        approval.approve_batch(user(NEXT), pending)
    assert batch_status(app, pending) == "PENDING_APPROVAL" and _reserved(app, demo) == 0


def test_approval_with_short_funds_is_refused_and_reserves_nothing(app, client, login_as, demo, started):
    big = b"type_id,valeur_id,devise,montant\nPERSONAL_ID,1,XOF,300000000\nPERSONAL_ID,2,XOF,200000001\n"
    with app.app_context():
        batch_id = import_bytes(demo, big)
        approval.submit_batch(user(G1), batch_id)
    login_as(G2)
    page = _flash_after(client, client.post(f"/batches/{batch_id}/approve"))
    assert "Fonds disponibles insuffisants sur ACC-CNSS-001" in page
    assert "500\u202f000\u202f001\u202fF CFA demandés" in page
    with app.app_context():
        b = fresh_batch(batch_id)
        assert (b.status, b.reserved_amount, b.approved_by_id) == ("PENDING_APPROVAL", 0, None)
        assert [e.action for e in db.session.scalars(db.select(BatchEvent))] == ["imported", "submitted"]
        with pytest.raises(InsufficientFunds):
            approval.approve_batch(user(G2), batch_id)
    assert _reserved(app, demo) == 0 and _ledger_kinds(app) == [] and started == []


def test_reject_needs_a_reason_and_another_gestionnaire(app, client, login_as, demo, pending):
    with app.app_context():
        with pytest.raises(PermissionDenied):
            approval.reject_batch(user(G1), pending, "je me rejette")
        with pytest.raises(ServiceError, match="Le motif du rejet est obligatoire."):
            approval.reject_batch(user(G2), pending, "   ")
    login_as(G2)
    page = _flash_after(client, client.post(f"/batches/{pending}/reject", data={"reason": ""}))
    assert "Le motif du rejet est obligatoire." in page
    assert batch_status(app, pending) == "PENDING_APPROVAL"
    page = _flash_after(client, client.post(f"/batches/{pending}/reject", data={"reason": "Montants de décembre"}))
    assert "Lot rejeté." in page and "Montants de décembre" in page
    with app.app_context():
        b = fresh_batch(pending)
        assert (b.status, b.rejection_reason, b.rejected_by_id) == (
            "REJECTED",
            "Montants de décembre",
            demo["users"][G2],
        )
        assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "batch.rejected")).details[
            "reason"
        ] == ("Montants de décembre")
        # Final: nothing more can happen to it.
        with pytest.raises(ServiceError, match="Action impossible"):
            approval.approve_batch(user(G2), pending)
        with pytest.raises(ServiceError, match="Action impossible"):
            approval.cancel_batch(user(G1), pending)
    assert _reserved(app, demo) == 0


def test_cancel_rules(app, client, login_as, demo, started):
    with app.app_context():
        a = import_bytes(demo, PAYMENT_LIST)
        b = import_bytes(demo, PAYMENT_LIST)
        c = import_bytes(demo, PAYMENT_LIST)
        approval.submit_batch(user(G1), b)
        approval.submit_batch(user(G1), c)
        # Three identical batches: the guard (issue 11) asks for an acknowledgement.
        approval.approve_batch(user(G2), c, acknowledgement="Lots identiques voulus pour ce test.")
        # Only the uploader may cancel.
        with pytest.raises(PermissionDenied, match="Seul le gestionnaire qui a importé le lot"):
            approval.cancel_batch(user(G2), a)
    login_as(G1)
    assert "Lot annulé." in _flash_after(client, client.post(f"/batches/{a}/cancel"))  # a draft
    assert "Lot annulé." in _flash_after(client, client.post(f"/batches/{b}/cancel"))  # waiting for approval
    page = _flash_after(client, client.post(f"/batches/{c}/cancel"))  # approved: too late
    assert "Action impossible" in page and "Approuvé" in page
    with app.app_context():
        assert [fresh_batch(x).status for x in (a, b, c)] == ["CANCELLED", "CANCELLED", "APPROVED"]
        assert fresh_batch(a).cancelled_by_id == demo["users"][G1]
        assert "Annuler le lot" not in _text(client.get(f"/batches/{a}"))


def test_submit_rules_invalid_rows_and_exclusion(app, client, login_as, demo):
    mixed = PAYMENT_LIST + b"PERSONAL_ID,9,XOF,abc,Mauvais\nPHONE,8,XOF,100,Inconnu\n"
    only_bad = b"type_id,valeur_id,devise,montant\nPERSONAL_ID,1,XOF,0\n"
    with app.app_context():
        batch_id = import_bytes(demo, mixed)
        empty_id = import_bytes(demo, only_bad)
        with pytest.raises(PermissionDenied, match="Seul le gestionnaire qui a importé le lot peut le soumettre"):
            approval.submit_batch(user(G2), batch_id, exclude_invalid=True)
    login_as(G1)
    page = _text(client.get(f"/batches/{empty_id}"))
    assert "Aucune ligne valide : ce lot ne peut pas être soumis." in page
    page = _flash_after(client, client.post(f"/batches/{empty_id}/submit", data={"exclude_invalid": "y"}))
    assert "Ce lot ne contient aucune ligne valide" in page

    page = _text(client.get(f"/batches/{batch_id}"))
    assert "Exclure les lignes invalides" in page
    assert "Montant illisible" in page and "inconnu de Mojaloop" in page
    page = _flash_after(client, client.post(f"/batches/{batch_id}/submit"))
    assert "Ce lot contient 2\u00a0lignes invalides : cochez « Exclure les lignes invalides »" in page
    assert batch_status(app, batch_id) == "DRAFT"

    page = _flash_after(client, client.post(f"/batches/{batch_id}/submit", data={"exclude_invalid": "y"}))
    assert "Lot soumis pour approbation." in page
    with app.app_context():
        b = fresh_batch(batch_id)
        assert (b.status, b.exclude_invalid, b.total_amount, b.submitted_by_id) == (
            "PENDING_APPROVAL",
            True,
            TOTAL,
            demo["users"][G1],
        )
        statuses = [(r.status, bool(r.errors)) for r in rows_of(batch_id)]
        assert statuses == [("PENDING", False)] * 3 + [("SKIPPED", True)] * 2
        event = db.session.scalar(db.select(BatchEvent).where(BatchEvent.action == "submitted"))
        assert event.message == "Lot soumis pour approbation. 2\u00a0lignes invalides exclues."
    # Excluded rows stay visible with their reason.
    page = _text(client.get(f"/batches/{batch_id}?status=SKIPPED"))
    rows_section = page.split('id="batch-rows"')[1]
    assert rows_section.count("Exclu</span>") == 2 and "Montant illisible" in rows_section
    # Submitting twice is refused.
    assert "Action impossible" in _flash_after(client, client.post(f"/batches/{batch_id}/submit"))


@pytest.mark.postgres_only
def test_two_simultaneous_approvals_reserve_once(app, demo, pending, started):
    """Two other gestionnaires press "approve" at the same moment: one wins, one is refused."""
    from backoffice.models import User
    from backoffice.services.users import hash_password

    with app.app_context():
        third = User(
            email="gestionnaire3@cnss.bj",
            first_name="Trois",
            last_name="Test",
            role="GESTIONNAIRE",
            organisation_id=demo["orgs"]["CNSS"],
            password_hash=hash_password("x"),
            must_change_password=False,
        )
        db.session.add(third)
        db.session.commit()
    results: list[str] = []
    barrier = threading.Barrier(2)

    def approve(email: str) -> None:
        with app.app_context():
            actor = user(email)
            barrier.wait()
            try:
                approval.approve_batch(actor, pending)
                results.append("ok")
            except ServiceError as exc:
                results.append(str(exc))

    threads = [threading.Thread(target=approve, args=(e,)) for e in (G2, "gestionnaire3@cnss.bj")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results)[0].startswith("Action impossible") and sorted(results)[1] == "ok"
    assert _reserved(app, demo) == TOTAL
    assert [k for k, _a, _r in _ledger_kinds(app)] == ["RESERVE"]
    assert len(started) == 1
