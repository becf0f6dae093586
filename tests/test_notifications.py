"""Batch notifications: queued by the services, sent by a real worker process into the outbox."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from backoffice import devservers
from tests.factories import add_batch, add_rows


def _batch(app, demo, status: str, **fields):
    """A CNSS batch of three 50 000 XOF rows (two completed, one failed); returns its id."""
    from backoffice.extensions import db

    with app.app_context():
        batch = add_batch(demo, "Pensions de novembre", status, total_amount=150_000, valid_count=3, **fields)
        statuses = ["COMPLETED", "COMPLETED", "FAILED"]
        add_rows(
            batch,
            [dict(status=s, amount=50_000, completed_at=datetime(2026, 11, 20, 10, i)) for i, s in enumerate(statuses)],
        )
        db.session.commit()
        return batch.id


def _outbox(app):
    from backoffice.services.mail import outbox_messages

    with app.app_context():
        return outbox_messages()


def _run_worker(start_process, **env):
    process = start_process("worker", "--burst", env=env)
    assert process.wait(timeout=60) == 0


@pytest.mark.slow
def test_each_event_reaches_the_right_people_through_a_worker(app, demo, start_process):
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services import notifications
    from backoffice.services.bulk import events

    submitted = _batch(app, demo, status="PENDING_APPROVAL")
    rejected = _batch(app, demo, status="REJECTED", rejection_reason="Montants de septembre, pas d'octobre.")
    finished = _batch(app, demo, status="PARTIALLY_COMPLETED")
    with app.app_context():
        # An inactive colleague is not told.
        inactive = User(
            email="ancien@cnss.bj",
            first_name="Ancien",
            last_name="Agent",
            organisation_id=demo["orgs"]["CNSS"],
            password_hash="x",
            active=False,
        )
        db.session.add(inactive)
        db.session.commit()
        notifications.batch_submitted(submitted)
        notifications.batch_approved(submitted)
        notifications.batch_rejected(rejected)
        events.batch_finished(finished)
    assert _outbox(app) == []  # nothing is sent by the request itself
    _run_worker(start_process)
    messages = {(m["To"], m["Subject"]): m.get_content() for m in _outbox(app)}
    recipients = sorted(to for to, _ in messages)
    assert recipients == ["gestionnaire1@cnss.bj"] * 3 + ["gestionnaire2@cnss.bj"]
    [(to, subject)] = [k for k in messages if k[0] == "gestionnaire2@cnss.bj"]
    assert subject.startswith("Lot LOT-") and subject.endswith("à approuver")
    assert "Koffi Agossou a soumis un lot" in messages[(to, subject)]
    assert "150\u202f000\u202fF CFA" in messages[(to, subject)]
    bodies = {subject: body for (to, subject), body in messages.items() if to == "gestionnaire1@cnss.bj"}
    rejected_body = next(b for s, b in bodies.items() if "rejeté" in s)
    assert "Motif : Montants de septembre, pas d'octobre." in rejected_body
    finished_subject, finished_body = next((s, b) for s, b in bodies.items() if "terminé" in s)
    assert finished_subject.endswith(" terminé : 2\u00a0lignes payées, 1\u00a0échouée")
    assert "Payé : 2\u00a0lignes" in finished_body and "Échoué : 1\u00a0ligne\n" in finished_body
    assert "est terminé" in finished_body and "partiellement terminé" in finished_body
    assert any("approuvé" in s for s in bodies)
    with app.app_context():  # the finish also rolled the batch up for the dashboard
        from backoffice.models.rollups import BatchDayStats, BatchRollup

        assert db.session.get(BatchRollup, finished) is not None
        assert db.session.query(BatchDayStats).filter_by(batch_id=finished).count() == 2


@pytest.mark.slow
def test_a_failed_send_is_retried_and_sent_once(app, demo, start_process):
    from backoffice.services import notifications

    batch = _batch(app, demo, status="APPROVED")
    with app.app_context():
        notifications.batch_approved(batch)
    # SMTP refuses (nothing listens): the send fails and is scheduled again, one second later.
    closed = str(devservers.free_port())
    _run_worker(start_process, MAIL_SERVER="127.0.0.1", MAIL_PORT=closed, NOTIFICATION_RETRY_SECONDS="1,1,1")
    assert _outbox(app) == []
    with app.app_context():
        from rq.registry import ScheduledJobRegistry

        queue = app.get_queue()
        # Other areas' sweeps may schedule their own jobs: look at the mail jobs only.
        scheduled = [queue.fetch_job(i) for i in ScheduledJobRegistry(queue=queue).get_job_ids()]
        mails = [j for j in scheduled if j.func_name == "backoffice.jobs.notifications.send_mail"]
        assert len(mails) == 1, [j.func_name for j in scheduled]
        assert mails[0].retries_left == 2
    time.sleep(1.5)
    _run_worker(start_process)  # SMTP back (the outbox): the retry is sent
    messages = _outbox(app)
    assert [m["To"] for m in messages] == ["gestionnaire1@cnss.bj"]


def test_queue_down_never_fails_the_request(app, demo):
    from redis import Redis
    from rq import Queue

    from backoffice.services import notifications

    batch = _batch(app, demo, status="PENDING_APPROVAL")
    with app.app_context():
        saved = app.extensions.get("queue")
        app.extensions["queue"] = Queue(
            "down", connection=Redis(port=devservers.free_port(), socket_connect_timeout=0.2)
        )
        try:
            notifications.batch_submitted(batch)  # logged, not raised
        finally:
            app.extensions["queue"] = saved


def test_messages_are_composed_in_french(app, demo):
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.models.batches import Batch
    from backoffice.services import notifications

    batch_id = _batch(app, demo, status="PENDING_APPROVAL")
    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        users = notifications.recipients("submitted", batch)
        assert [u.email for u in users] == ["gestionnaire2@cnss.bj"]
        subject, body = notifications.compose("approved", batch, db.session.get(User, batch.created_by_id))
        assert subject == f"Lot {batch.reference} approuvé"
        assert body.startswith("Bonjour Koffi,") and f"/batches/{batch_id}" in body
