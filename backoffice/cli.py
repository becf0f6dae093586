"""flask commands: seed-demo, create-admin, worker, outbox, simulate."""

from __future__ import annotations

import logging
import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.simulators import fines as fines_simulator
from backoffice.simulators import mojaloop as mojaloop_simulator
from backoffice.simulators import momo as momo_simulator

# Partner simulators: each module's click `command` serves it on a port.
SIMULATORS = {"mojaloop": mojaloop_simulator, "fines": fines_simulator, "momo": momo_simulator}

simulate = AppGroup("simulate", help="Start a partner simulator (development, tests, benchmarks).")


def register(app: Flask) -> None:
    """Attach the commands to the app's CLI."""
    app.cli.add_command(seed_demo)
    app.cli.add_command(create_admin)
    app.cli.add_command(worker)
    app.cli.add_command(outbox)
    for name, module in SIMULATORS.items():
        simulate.add_command(module.command, name)
    app.cli.add_command(simulate)


@click.command("seed-demo")
def seed_demo() -> None:
    """Create the demo organisations, users and accounts (idempotent)."""
    from backoffice.services import ServiceError
    from backoffice.services.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET
    from backoffice.services.demo import seed_demo as run_seed

    try:
        created = run_seed()
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    if created:
        click.echo("Créé : " + ", ".join(created))
    else:
        click.echo("Données de démonstration déjà présentes : rien à faire.")
    click.echo(f"Mot de passe des comptes de démonstration : {DEMO_PASSWORD}")
    click.echo(f"Secret TOTP (double authentification) de ces comptes : {DEMO_TOTP_SECRET}")


@click.command("create-admin")
@click.argument("email")
@click.option("--first-name", default="Admin")
@click.option("--last-name", default="")
@click.password_option("--password", prompt="Mot de passe", confirmation_prompt="Confirmation")
def create_admin(email: str, first_name: str, last_name: str, password: str) -> None:
    """Create a platform administrator (asks for the password)."""
    from backoffice.models import User
    from backoffice.services import audit
    from backoffice.services.users import hash_password, password_problem

    email = email.strip().lower()
    problem = password_problem(password, email, (first_name, last_name))
    if problem:
        raise click.ClickException(problem)
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise click.ClickException("Un utilisateur existe déjà avec cette adresse e-mail.")
    user = User(
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_admin=True,
        password_hash=hash_password(password),
        must_change_password=False,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(None, "user.created", user, source="create-admin", is_admin=True)
    db.session.commit()
    click.echo(f"Administrateur {email} créé.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--name", default=None, help="Worker name (default: generated).")
def worker(burst: bool, name: str | None) -> None:
    """Run an RQ worker inside the application context.

    SimpleWorker runs jobs in this process (no fork per job), so the database pool and the
    HTTP sessions are reused across chunks; a crash loses at most the leases it held.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker_pid = os.getpid()
    os.register_at_fork(after_in_child=lambda: _die_with_parent(worker_pid))
    from backoffice.jobs.loops import start_worker_loops

    app = current_app._get_current_object()
    start_worker_loops(app)
    build_worker(app, name).work(burst=burst, logging_level="INFO", with_scheduler=True)


def build_worker(app: Flask, name: str | None = None):
    """The RQ worker, on a Redis connection of its own.

    redis-py 8 reads with a 5 s socket timeout by default. RQ raises the timeout of the
    connection it is given above its BLPOP wait, but a connection already in that pool (the
    app's, used by the sweepers and by jobs that enqueue) keeps 5 s, and a BLPOP on it then
    fails every 5 s and the worker stops taking jobs. A separate pool built with the long
    timeout from the start avoids that; the web keeps the short one (fail fast).
    """
    from redis import Redis
    from rq import Queue, SimpleWorker
    from rq.defaults import DEFAULT_WORKER_TTL

    connection = Redis.from_url(app.config["REDIS_URL"], socket_timeout=DEFAULT_WORKER_TTL + 60)
    queue = Queue(app.config["RQ_QUEUE"], connection=connection)
    return SimpleWorker([queue], connection=connection, name=name)


def _die_with_parent(parent_pid: int) -> None:
    """A process forked by the worker (RQ's scheduler) dies with it.

    The child inherits the worker's database sockets; if it outlived a worker killed with
    SIGKILL it would keep that worker's open transaction, and its row locks, alive forever.
    """
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(0)
    except (OSError, AttributeError):  # not Linux: nothing to arm
        pass


@click.command("outbox")
@click.option("--limit", "-n", default=10, show_default=True, help="How many of the latest messages.")
@click.option("--full", is_flag=True, help="Print the bodies too.")
def outbox(limit: int, full: bool) -> None:
    """List the latest emails of the development outbox (MAIL_OUTBOX), newest last."""
    from backoffice.services.mail import outbox_messages

    if current_app.config["MAIL_SERVER"]:
        click.echo(f"Les e-mails partent par SMTP ({current_app.config['MAIL_SERVER']}) : pas de boîte locale.")
        return
    messages = outbox_messages()
    if not messages:
        click.echo(f"Aucun e-mail dans {current_app.config['MAIL_OUTBOX']}.")
        return
    shown = messages[-limit:] if limit > 0 else messages
    click.echo(f"{len(messages)} e-mail(s) dans {current_app.config['MAIL_OUTBOX']} ; les {len(shown)} derniers :")
    for message in shown:
        click.echo(f"- {message['Date']} · à {message['To']} · {message['Subject']}")
        if full:
            click.echo("")
            click.echo("  " + message.get_content().strip().replace("\n", "\n  "))
            click.echo("")
