"""The fines saga against the real simulators over HTTP, run in-process step by step.

Covers every ending (PAYE, REJETE, ECHEC, REMBOURSE, A_VERIFIER → re-run), partner faults
(504 applied at once, later or never), restarts after a debit, and the signed callback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models.fines import ApiClient, FinePayment
from tests.factories import body, submit_fine_payment


def _run(app, payment_id: str) -> FinePayment:
    """Run the saga in this process until it has nothing left to do now."""
    from backoffice.services.fines import callbacks, saga

    with app.app_context():
        for _ in range(200):
            wait = saga.advance(payment_id, "test")
            if wait is None:
                break
            import time

            time.sleep(wait)
        callbacks.send_callback(payment_id)
        db.session.remove()
        payment = db.session.get(FinePayment, payment_id)
        _ = payment.items
        db.session.expunge_all()
        return payment


def _payment(app, payment_id: str) -> FinePayment:
    with app.app_context():
        payment = db.session.get(FinePayment, payment_id)
        _ = payment.items
        db.session.expunge_all()
        return payment


def _debits_for(momo, payment_id: str) -> dict:
    return {k: v for k, v in momo.stats()["debits"].items() if k.startswith(payment_id)}


def _events(app, payment_id: str) -> list[str]:
    from backoffice.models.fines import FinePaymentEvent

    with app.app_context():
        return list(
            db.session.scalars(
                select(FinePaymentEvent.step)
                .where(FinePaymentEvent.payment_id == payment_id)
                .order_by(FinePaymentEvent.id)
            )
        )


def test_happy_path_pays_once_and_credits_the_organisation(app, client, demo, partners):
    from backoffice.models import Account

    payment_id = submit_fine_payment(client, 1)
    payment = _run(app, payment_id)
    assert payment.status == "PAYE"
    debits = _debits_for(partners["momo"], payment_id)
    assert list(debits) == [f"{payment_id}-debit"]
    assert debits[f"{payment_id}-debit"]["applied"] == 1
    fines = partners["fines"].stats()["fines"]
    for item in body(1)["amendes"]:
        assert fines[item] == {"statut": "PAYEE", "paiement_id": f"{payment_id}-{item}"}
    steps = _events(app, payment_id)
    assert steps[0] == "RECU" and "VERIFIE" in steps and "DEBITE" in steps and steps[-1] == "PAYE"
    with app.app_context():
        account = db.session.get(Account, demo["accounts"]["ACC-CNSS-001"])
        assert account.balance == 500_000_000 + body(1)["montant"]
        assert payment.collected_amount == body(1)["montant"]


@pytest.mark.parametrize(
    ("citizen", "overrides", "code"),
    [
        (10, {}, "AMENDE_DEJA_PAYEE"),  # one of citizen 10's fines is already PAYEE
        (1, {"telephone": "22997000002"}, "AMENDE_AUTRE_TELEPHONE"),
        (1, {"montant": 1}, "MONTANT_INCORRECT"),
        (1, {"amendes": ["AM-2025-999999"], "montant": 5000}, "AMENDE_INCONNUE"),
    ],
)
def test_verification_mismatch_is_rejected_before_any_debit(app, client, demo, partners, citizen, overrides, code):
    payment_id = submit_fine_payment(client, citizen, **overrides)
    payment = _run(app, payment_id)
    assert payment.status == "REJETE"
    assert payment.reason_code == code
    assert _debits_for(partners["momo"], payment_id) == {}
    # The fines are free again: another request for them is accepted.
    with app.app_context():
        assert all(item.active_numero is None for item in db.session.get(FinePayment, payment_id).items)


def test_debit_refused_ends_echec_with_the_operator_reason(app, client, demo, partners):
    payment_id = submit_fine_payment(client, 5)  # low balance
    payment = _run(app, payment_id)
    assert payment.status == "ECHEC"
    assert payment.reason_code == "SOLDE_INSUFFISANT"
    assert "Solde mobile money insuffisant" in payment.reason
    debit = _debits_for(partners["momo"], payment_id)[f"{payment_id}-debit"]
    assert debit["statut"] == "ECHOUE" and debit["applied"] == 0
    assert not any(k.startswith(payment_id) for k in partners["fines"].stats()["marks"])


def test_fine_paid_elsewhere_after_debit_is_refunded(app, client, demo, partners):
    payment_id = submit_fine_payment(client, 3)  # citizen 3's fines get paid at a counter meanwhile
    payment = _run(app, payment_id)
    assert payment.status == "REMBOURSE"
    assert payment.reason_code == "DEJA_PAYEE"
    assert payment.refund_amount == body(3)["montant"]
    stats = partners["momo"].stats()
    assert stats["debits"][f"{payment_id}-debit"]["applied"] == 1
    assert stats["refunds"][f"{payment_id}-refund"]["applied"] == 1
    assert body(3)["telephone"] not in stats["balance_changes"]  # debited then credited back


def test_partial_refund_when_one_fine_was_paid_elsewhere(app, client, demo, partners):
    import requests

    from backoffice.services.fines.saga import Saga

    payment_id = submit_fine_payment(client, 1)
    second = body(1)["amendes"][1]
    with app.app_context():
        saga = Saga(payment_id, "test")
        assert saga.acquire()
        payment = db.session.get(FinePayment, payment_id)
        saga.verify(payment)
        db.session.commit()
        saga.release()
    requests.post(f"{partners['fines'].url}/_admin/amendes/{second}/payer", timeout=5).raise_for_status()
    payment = _run(app, payment_id)
    assert payment.status == "REMBOURSE"
    assert payment.refund_amount == payment.items[1].amount
    assert payment.collected_amount == payment.items[0].amount
    assert [i.mark_outcome for i in payment.items] == ["PAYEE", "DEJA_PAYEE"]
    assert "remboursement partiel" in payment.reason


def test_504_applied_at_once_is_settled_through_the_status_endpoint(app, client, demo, partners):
    momo = partners["momo"]
    # Every write answers 504 but is applied; reads work.
    momo.settings(fail_rate=1.0, late_share=0.0, lost_share=0.0)
    from backoffice.services.fines.saga import Saga
    payment_id = submit_fine_payment(client, 1)

    with app.app_context():
        saga = Saga(payment_id, "test")
        assert saga.acquire()
        payment = db.session.get(FinePayment, payment_id)
        momo.settings(fail_rate=0.0)
        saga.verify(payment)
        db.session.commit()
        momo.settings(fail_rate=1.0)
        wait = saga.start_debit(payment)  # 504: outcome unknown
        db.session.commit()
        assert wait is not None and payment.status == "DEBIT_EN_COURS"
        saga.release()
    momo.settings(fail_rate=0.0)
    payment = _run(app, payment_id)
    assert payment.status == "PAYE"
    debit = _debits_for(momo, payment_id)[f"{payment_id}-debit"]
    assert debit == {**debit, "applied": 1, "posts": 1}  # never re-posted: the status check found it


def test_lost_write_is_repeated_with_the_same_id_after_the_grace_period(app, client, demo, partners):
    momo = partners["momo"]
    from backoffice.services.fines.saga import Saga
    payment_id = submit_fine_payment(client, 1)

    with app.app_context():
        saga = Saga(payment_id, "test")
        assert saga.acquire()
        payment = db.session.get(FinePayment, payment_id)
        saga.verify(payment)
        db.session.commit()
        momo.settings(fail_rate=1.0, late_share=0.0, lost_share=1.0)  # 504 and never applied
        saga.start_debit(payment)
        db.session.commit()
        saga.release()
    momo.settings(fail_rate=0.0)
    payment = _run(app, payment_id)
    assert payment.status == "PAYE"
    debit = _debits_for(momo, payment_id)[f"{payment_id}-debit"]
    assert debit["applied"] == 1 and debit["posts"] == 2  # the same id, sent again
    assert "DEBIT_STATUT" in _events(app, payment_id)


def test_late_writes_never_apply_twice(app, client, demo, partners):
    """Writes answered 504 and applied up to 0.5 s later, with a grace about as long than that."""
    momo, fines = partners["momo"], partners["fines"]
    for partner in (momo, fines):
        partner.settings(fail_rate=0.5, late_share=1.0, lost_share=0.0, late_max=0.5)
    ids = [submit_fine_payment(client, i) for i in (1, 2, 4)]
    results = [_run(app, payment_id) for payment_id in ids]
    assert [p.status for p in results] == ["PAYE", "PAYE", "PAYE"]
    import time

    time.sleep(0.7)  # let any late write land
    stats = momo.stats()
    marks = fines.stats()["marks"]
    for payment_id in ids:
        assert stats["debits"][f"{payment_id}-debit"]["applied"] == 1
        for key, mark in marks.items():
            if key.startswith(payment_id):
                assert mark["applied"] == 1


def test_budget_spent_goes_a_verifier_then_admin_rerun_finishes(app, client, demo, partners, login_as):
    momo = partners["momo"]
    app.config["FINES_MAX_CHECKS"] = 3
    payment_id = submit_fine_payment(client, 1)
    momo.settings(fail_rate=1.0, late_share=0.0, lost_share=0.0)  # every call 504, writes applied
    payment = _run(app, payment_id)
    assert payment.status == "A_VERIFIER"
    assert payment.paused_status == "DEBIT_EN_COURS"
    assert payment.reason_code == "BUDGET_EPUISE"
    momo.settings(fail_rate=0.0)
    admin = login_as("admin@demo.bj")
    response = admin.post(f"/amendes/a-verifier/{payment_id}/relancer")
    assert response.status_code == 302
    assert _payment(app, payment_id).status == "DEBIT_EN_COURS"
    payment = _run(app, payment_id)
    assert payment.status == "PAYE"
    assert _debits_for(momo, payment_id)[f"{payment_id}-debit"]["applied"] == 1
    assert "RELANCE" in _events(app, payment_id)


def test_restart_after_debit_resumes_without_a_second_debit(app, client, demo, partners):
    """A job that dies right after the debit: the next one marks the fines, no new debit."""
    from backoffice.services.fines.saga import Saga

    payment_id = submit_fine_payment(client, 1)
    with app.app_context():
        saga = Saga(payment_id, "dead-worker")
        assert saga.acquire()
        payment = db.session.get(FinePayment, payment_id)
        saga.verify(payment)
        saga.start_debit(payment)
        db.session.commit()
        assert payment.status == "DEBITE"
        # Crash: the lease is never released; it expires.
        db.session.execute(FinePayment.__table__.update().where(FinePayment.id == payment_id).values(lease_until=None))
        db.session.commit()
    payment = _run(app, payment_id)
    assert payment.status == "PAYE"
    debit = _debits_for(partners["momo"], payment_id)[f"{payment_id}-debit"]
    assert debit["posts"] == 1 and debit["applied"] == 1


def test_a_live_lease_keeps_a_second_job_out(app, client, demo, partners):
    from backoffice.services.fines.saga import Saga

    payment_id = submit_fine_payment(client, 1)
    with app.app_context():
        first = Saga(payment_id, "worker-1")
        assert first.acquire()
        assert Saga(payment_id, "worker-2").acquire() is False
        first.release()
        assert Saga(payment_id, "worker-2").acquire() is True


class _CallbackSink(BaseHTTPRequestHandler):
    received: list = []
    fail_first = 1

    def do_POST(self):  # noqa: N802 - http.server API
        length = int(self.headers["Content-Length"])
        data = self.rfile.read(length)
        type(self).received.append((dict(self.headers), data))
        if len(type(self).received) <= type(self).fail_first:
            self.send_response(503)
        else:
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_callback_is_signed_and_retried(app, client, demo, partners):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CallbackSink)
    _CallbackSink.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/notifications"
        payment_id = submit_fine_payment(client, 1, callback_url=url)
        payment = _run(app, payment_id)  # final + first callback attempt (503)
        assert payment.status == "PAYE"
        assert payment.callback_status == "EN_ATTENTE" and payment.callback_attempts == 1
        from backoffice.services.fines import callbacks

        with app.app_context():
            assert callbacks.send_callback(payment_id) is None  # second attempt: 200
            db.session.remove()
        assert _payment(app, payment_id).callback_status == "ENVOYE"
        headers, raw = _CallbackSink.received[-1]
        with app.app_context():
            secret = db.session.scalar(select(ApiClient.signing_secret))
        expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        assert headers["X-Signature"] == expected
        sent = json.loads(raw)
        assert sent["id"] == payment_id and sent["statut"] == "PAYE"
    finally:
        server.shutdown()
