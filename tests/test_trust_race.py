"""Two approvals at the same moment, same beneficiary, same period (PostgreSQL, real threads).

Each approval re-runs the double-payment guard inside its transaction, under an advisory
lock per organisation and payment period: neither batch pays the person a second time
without an acknowledgement, whatever the order the two transactions commit in.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import User
from backoffice.services import ServiceError
from backoffice.services.bulk import approval
from backoffice.services.users import hash_password
from tests.factories import fresh_batch, import_bytes, user

pytestmark = pytest.mark.postgres_only

G1, G2, G3 = "gestionnaire1@cnss.bj", "gestionnaire2@cnss.bj", "gestionnaire3@cnss.bj"


def _third_gestionnaire(demo) -> None:
    if db.session.scalar(select(User.id).where(User.email == G3)) is None:
        db.session.add(
            User(
                email=G3,
                first_name="Trois",
                last_name="Test",
                role="GESTIONNAIRE",
                organisation_id=demo["orgs"]["CNSS"],
                password_hash=hash_password("x"),
                must_change_password=False,
            )
        )
        db.session.commit()


def _two_pending_batches(demo, round_number: int) -> tuple[int, int]:
    """Two batches waiting for approval that both pay MSISDN X this month (other rows differ)."""
    x = "2290197000001"
    first = import_bytes(
        demo, f"type_id,valeur_id,devise,montant\nMSISDN,{x},XOF,5000\nPERSONAL_ID,A{round_number},XOF,10\n".encode()
    )
    second = import_bytes(
        demo, f"type_id,valeur_id,devise,montant\nMSISDN,{x},XOF,5000\nPERSONAL_ID,B{round_number},XOF,20\n".encode()
    )
    approval.submit_batch(user(G1), first)
    approval.submit_batch(user(G1), second)
    return first, second


def _approve_together(app, jobs: list[tuple[str, int, str]]) -> dict[int, str]:
    results: dict[int, str] = {}
    barrier = threading.Barrier(len(jobs))

    def approve(email: str, batch_id: int, acknowledgement: str) -> None:
        with app.app_context():
            actor = user(email)
            db.session.commit()
            barrier.wait()
            try:
                approval.approve_batch(actor, batch_id, acknowledgement)
                results[batch_id] = "ok"
            except ServiceError as exc:
                results[batch_id] = str(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_simultaneous_approvals_never_both_pay_without_acknowledgement(app, demo, monkeypatch):
    from backoffice.services.bulk import chunks

    monkeypatch.setattr(chunks, "start_processing", lambda batch_id: None)  # approval only
    with app.app_context():
        _third_gestionnaire(demo)
    for round_number in range(5):
        with app.app_context():
            first, second = _two_pending_batches(demo, round_number)
        results = _approve_together(app, [(G2, first, ""), (G3, second, "")])
        with app.app_context():
            statuses = [fresh_batch(b).status for b in (first, second)]
            assert statuses.count("APPROVED") == 0, (results, statuses)
            assert all("déjà payée" in results[b] for b in (first, second))
            # Out of the way for the next round.
            for b in (first, second):
                approval.cancel_batch(user(G1), b)


def test_with_one_acknowledgement_only_that_batch_pays(app, demo, monkeypatch):
    from backoffice.services.bulk import chunks

    monkeypatch.setattr(chunks, "start_processing", lambda batch_id: None)
    with app.app_context():
        _third_gestionnaire(demo)
    for round_number in range(5):
        with app.app_context():
            first, second = _two_pending_batches(demo, round_number)
        results = _approve_together(app, [(G2, first, "Rappel validé par la direction."), (G3, second, "")])
        with app.app_context():
            assert results[first] == "ok"
            assert "déjà payée" in results[second]
            assert (fresh_batch(first).status, fresh_batch(second).status) == ("APPROVED", "PENDING_APPROVAL")
            approval.cancel_batch(user(G1), second)
            # The approved batch stays active for the period: the next round's batches see it.
