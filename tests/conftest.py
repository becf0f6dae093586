"""Test fixtures: real Redis, real PostgreSQL (TEST_DB=postgres) or SQLite, real processes.

The schema is built once per session by the migrations themselves; each test starts from
empty tables and an empty Redis database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from backoffice import devservers

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "samples"  # what each file must give: tests/samples/README.md
DEMO_PASSWORD = "Demo-2026!"


def _is_postgres() -> bool:
    return os.environ.get("TEST_DB", "sqlite") == "postgres"


def pytest_collection_modifyitems(config, items):
    if _is_postgres():
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with TEST_DB=postgres)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def services():
    """Start Redis (and PostgreSQL when asked) and point the environment at them."""
    started = []
    redis = devservers.start_redis()
    started.append(redis)
    instance = Path(tempfile.mkdtemp(prefix="backoffice-test-"))
    if os.environ.get("TEST_DATABASE_URL"):
        database_url = os.environ["TEST_DATABASE_URL"]
    elif _is_postgres():
        pg = devservers.start_postgres()
        started.append(pg)
        database_url = pg.url
    else:
        database_url = f"sqlite:///{instance / 'test.db'}"
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "INSTANCE_PATH": str(instance),
        "MAIL_OUTBOX": str(instance / "outbox"),
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "RQ_QUEUE": "backoffice-test",
        # Cheap hashing keeps hundreds of test sign-ins fast; production uses scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        # Callbacks go to receivers the tests start on this machine (services/outgoing.py).
        "OUTGOING_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    os.environ.update(env)
    yield {"redis": redis, "database_url": database_url, "instance": instance, "env": env}
    for service in reversed(started):
        service.stop()


@pytest.fixture(scope="session")
def app(services):
    """One app for the session, schema built by `flask db upgrade`."""
    from flask_migrate import upgrade

    from backoffice import create_app
    from backoffice.extensions import db

    application = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
    with application.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        upgrade()
    return application


def _empty_tables(app) -> None:
    from backoffice.extensions import db

    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            else:
                for name in reversed(tables):
                    conn.exec_driver_sql(f"DELETE FROM {name}")
                conn.exec_driver_sql("DELETE FROM sqlite_sequence") if _has_sqlite_sequence(conn) else None
        db.session.remove()


def _has_sqlite_sequence(conn) -> bool:
    return bool(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'").fetchone())


@pytest.fixture(autouse=True)
def _clean_state(request, services):
    """Empty tables, Redis and the mail outbox before each test that uses the app."""
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        _empty_tables(app)
        import redis as redis_lib

        redis_lib.Redis.from_url(services["redis"].url).flushdb()
        outbox = Path(os.environ["MAIL_OUTBOX"])
        if outbox.exists():
            for f in outbox.glob("*.eml"):
                f.unlink()
        # API keys are cached per process for a few seconds: the emptied tables must not linger there.
        from backoffice.api.auth import forget_cached_keys

        forget_cached_keys()
    yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def demo(app):
    """The demo organisations, users and accounts (`flask seed-demo`)."""
    from backoffice.extensions import db
    from backoffice.services.demo import seed_demo

    with app.app_context():
        seed_demo()
        db.session.commit()
        return _demo_ids()


def _demo_ids() -> dict:
    """Ids of the demo objects, by email / code / account id (inside an app context)."""
    from backoffice.extensions import db
    from backoffice.models import Account, Organisation, User

    return {
        "users": {u.email: u.id for u in db.session.query(User).all()},
        "orgs": {o.code: o.id for o in db.session.query(Organisation).all()},
        "accounts": {a.account_id: a.id for a in db.session.query(Account).all()},
    }


DEMO_TOTP_SECRET = "MJQWG23PMZTGSY3FFVSGK3LPFUZGMYJB"


def totp_code(app, email: str) -> str:
    """A code of the user's authenticator that the server has not accepted yet.

    A code is accepted once per 30-second step (and the next step is accepted too, for
    clock drift), so a user signing in twice in a row gets the next step's code; a third
    time waits for the step to turn.
    """
    import time

    import pyotp
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import User

    while True:
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
            secret, last = user.totp_secret, user.totp_last_step
        now = time.time()
        for step in (int(now // 30), int(now // 30) + 1):
            if last is None or step > last:
                return pyotp.TOTP(secret).at(step * 30)
        time.sleep(30 - now % 30 + 0.05)


def login(client, email: str, password: str = DEMO_PASSWORD):
    """Sign in through the real forms, second factor included; returns the last response.

    The password step answers 302 to the code step (or to the enrolment, for a user who has
    no second factor yet); this completes it with the user's TOTP secret, so the response
    returned is the one the sign-in ends with (302 to the next page), as before 2FA.
    """
    response = client.post("/connexion", data={"email": email, "password": password}, follow_redirects=False)
    return finish_sign_in(client, response, email)


def finish_sign_in(client, response, email: str):
    """After the password step's `response`, type the second factor (or enrol) as `login` does."""
    location = response.headers.get("Location", "") if response.status_code == 302 else ""
    if location.endswith("/connexion/code"):
        return client.post("/connexion/code", data={"code": totp_code(client.application, email)})
    if location.endswith("/connexion/enrolement"):
        client.get("/connexion/enrolement")  # gives the user a secret to confirm
        done = client.post("/connexion/enrolement", data={"code": totp_code(client.application, email)})
        assert done.status_code == 200, done.get_data(as_text=True)[:500]
        return client.get("/connexion/suite")
    return response


@pytest.fixture
def no_local_networks(app):
    """As in production: OUTGOING_ALLOWED_NETWORKS empty, so loopback receivers are internal addresses."""
    saved = app.config["OUTGOING_ALLOWED_NETWORKS"]
    app.config["OUTGOING_ALLOWED_NETWORKS"] = ""
    yield
    app.config["OUTGOING_ALLOWED_NETWORKS"] = saved


@pytest.fixture
def login_as(client, demo):
    """login_as('gestionnaire1@cnss.bj') signs the test client in."""

    def _login(email: str):
        response = login(client, email)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return _login


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi.py", *args]


@pytest.fixture
def start_process(services):
    """Start `flask …` child processes with the test environment; stopped after the test."""
    processes: list[subprocess.Popen] = []

    def _start(*args: str, env: dict | None = None, **popen) -> subprocess.Popen:
        process = subprocess.Popen(flask_command(*args), cwd=str(ROOT), env={**os.environ, **(env or {})}, **popen)
        processes.append(process)
        return process

    yield _start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def live_server(app, start_process):
    """The web app served by a real process on a free port; returns its base URL."""
    port = devservers.free_port()
    start_process("run", "--port", str(port), "--no-reload", "--no-debugger", env={"FLASK_DEBUG": "0"})
    devservers.wait_for_port(port, timeout=30)
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def simulator(services):
    """The project's Mojaloop SDK adapter simulator, a real process over HTTP (one per module)."""
    from tests.support import start_mojaloop_simulator

    service = start_mojaloop_simulator()
    yield service
    service.stop()


@pytest.fixture
def sim(simulator):
    """The simulator's admin controls, reset for the test (counts and fault settings)."""
    from tests.support import Sim

    control = Sim(simulator.url)
    control.reset()
    return control


@pytest.fixture(scope="session")
def partner_services(services):
    """The fines registry and mobile money simulators, real processes started once per session."""
    from tests.support import Partner

    options = ["--latency-min", "0.002", "--latency-max", "0.01", "--fail-rate", "0", "--seed", "7"]
    started = {name: Partner(devservers.start_simulator(name, options=options)) for name in ("fines", "momo")}
    yield started
    for partner in started.values():
        partner.service.stop()


@pytest.fixture
def partners(app, partner_services):
    """Both fines simulators, reset and calm; the app (and child processes via env) point at them."""
    from tests.support import CALM, FAST_SAGA

    for partner in partner_services.values():
        partner.reset()
        partner.settings(**CALM)
    saved = {k: app.config[k] for k in (*FAST_SAGA, "FINES_API_URL", "MOMO_API_URL")}
    app.config.update(FAST_SAGA)
    app.config["FINES_API_URL"] = partner_services["fines"].url
    app.config["MOMO_API_URL"] = partner_services["momo"].url
    yield partner_services
    app.config.update(saved)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="fr-FR", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def browser_login(page, base_url: str, email: str, password: str = DEMO_PASSWORD, secret: str | None = None) -> None:
    """Sign in through the pages, typing the TOTP code (demo secret by default) when asked.

    A user without a second factor is enrolled on the way (the secret is read off the page).
    """
    import time

    import pyotp

    page.goto(f"{base_url}/connexion")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state("networkidle")
    if "/connexion/enrolement" in page.url:
        secret = page.inner_text("#totp-secret").strip()
        page.fill("input[name=code]", pyotp.TOTP(secret).now())
        page.click("input[type=submit], button[type=submit]")
        page.click("text=J'ai noté mes codes, continuer")
        page.wait_for_load_state("networkidle")
        return
    totp = pyotp.TOTP(secret or DEMO_TOTP_SECRET)
    # A code is accepted once: try this step's, then the next one's, then wait for a new step.
    for attempt in range(3):
        if "/connexion/code" not in page.url:
            return
        now = time.time()
        if attempt == 2:
            time.sleep(30 - now % 30 + 0.05)
            now = time.time()
        page.fill("input[name=code]", totp.at(now + 30 * (attempt == 1)))
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_load_state("networkidle")
