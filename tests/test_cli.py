"""The flask commands, run as real child processes with the test environment."""

from __future__ import annotations

import os
import subprocess

from sqlalchemy import func, select

from tests.conftest import ROOT, flask_command, login


def run_flask(*args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`flask …` in a child process without a terminal (so password prompts read stdin)."""
    return subprocess.run(
        flask_command(*args),
        cwd=str(ROOT),
        env=dict(os.environ),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def _counts(app) -> dict[str, int]:
    from backoffice.extensions import db
    from backoffice.models import Account, AuditEvent, LedgerEntry, Organisation, User

    with app.app_context():
        db.session.remove()
        return {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Organisation, User, Account, LedgerEntry, AuditEvent)
        } | {
            "balance": db.session.scalar(select(func.sum(Account.balance))) or 0,
        }


def count_users() -> int:
    """A trivial job: needs the application context the worker provides."""
    from backoffice.extensions import db
    from backoffice.models import User

    return db.session.scalar(select(func.count()).select_from(User))


def test_seed_demo_is_idempotent(app):
    first = run_flask("seed-demo")
    assert first.returncode == 0, first.stderr
    assert "organisation CNSS" in first.stdout and "Demo-2026!" in first.stdout
    after_first = _counts(app)
    # CNSS, Next.mr and the traffic authority (its fines collection account opens at 0);
    # 8 people and the technical users of the two demo API clients.
    assert after_first["Organisation"] == 3 and after_first["User"] == 8 + 2 and after_first["Account"] == 3
    assert after_first["balance"] == 500_000_000 + 50_000_000

    second = run_flask("seed-demo")
    assert second.returncode == 0, second.stderr
    assert "rien à faire" in second.stdout
    assert _counts(app) == after_first


def test_create_admin_asks_for_the_password(app, client):
    from backoffice.extensions import db
    from backoffice.models import AuditEvent, User

    short = run_flask("create-admin", "chef@demo.bj", input="court\ncourt\n")
    assert short.returncode != 0
    assert "au moins 12 caractères" in short.stderr

    mismatch = run_flask("create-admin", "chef@demo.bj", input="Secret-Iroko-Baobab-2026\nautre\n" * 3)
    assert mismatch.returncode != 0

    result = run_flask("create-admin", "Chef@Demo.bj", input="Secret-Iroko-Baobab-2026\nSecret-Iroko-Baobab-2026\n")
    assert result.returncode == 0, result.stderr
    assert "Administrateur chef@demo.bj créé." in result.stdout
    assert "Secret-Iroko-Baobab-2026" not in result.stdout  # the prompt hides it
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "chef@demo.bj"))
        assert user.is_admin and not user.must_change_password
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.object_id == str(user.id))) == (
            "user.created"
        )

    again = run_flask("create-admin", "chef@demo.bj", input="Secret-Iroko-Baobab-2026\nSecret-Iroko-Baobab-2026\n")
    assert again.returncode != 0 and "existe déjà" in again.stderr

    response = login(client, "chef@demo.bj", "Secret-Iroko-Baobab-2026")
    assert response.status_code == 302
    assert client.get("/").headers["Location"] == "/admin/organisations"


def test_worker_burst_runs_a_job_and_exits(app, demo):
    from rq.job import JobStatus

    queue = app.get_queue()
    job = queue.enqueue(f"{__name__}.count_users")
    result = run_flask("worker", "--burst", timeout=90)
    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 8 + 2  # the demo people and the demo API clients' technical users
    assert len(queue) == 0


def test_outbox_lists_the_latest_emails(app, demo):
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services import users as user_service

    empty = run_flask("outbox")
    assert empty.returncode == 0 and "Aucun e-mail" in empty.stdout

    with app.app_context():
        actor = db.session.get(User, demo["users"]["admin@demo.bj"])
        _, password = user_service.create_user(
            actor,
            email="agent@cnss.bj",
            first_name="Sèna",
            last_name="Agbo",
            phone=None,
            role="SUPERVISEUR",
            organisation_id=demo["orgs"]["CNSS"],
        )
        db.session.commit()
    listed = run_flask("outbox", "--full")
    assert listed.returncode == 0, listed.stderr
    assert "à agent@cnss.bj · Votre accès au back-office" in listed.stdout
    assert password in listed.stdout and "Bonjour Sèna" in listed.stdout


def test_the_worker_blocks_on_a_connection_whose_timeout_outlasts_its_wait(app):
    """A 5 s read timeout (redis-py's default) under a 405 s BLPOP made workers spin on errors."""
    from backoffice.cli import build_worker

    with app.app_context():
        app.get_queue().connection.ping()  # the app's pool already holds a 5 s connection
        worker = build_worker(app, "timeout-check")
        kwargs = worker.connection.connection_pool.connection_kwargs
        assert worker.connection.connection_pool is not app.get_queue().connection.connection_pool
        assert kwargs["socket_timeout"] > worker.dequeue_timeout
