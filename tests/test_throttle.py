"""Throttling without races: sign-in attempts, and the fines API per key (429 + Retry-After)."""

from __future__ import annotations

import threading

import requests
from sqlalchemy import func, select

from backoffice import devservers
from tests.conftest import DEMO_PASSWORD

API_KEY = "demo-amendes-2026"


def test_forty_concurrent_wrong_passwords_get_at_most_five_checks(app, demo, start_process):
    """Sent at once to a real server process: the atomic counter lets at most 5 reach the hash check."""
    from backoffice.extensions import db
    from backoffice.models import AuditEvent, LoginFailure

    port = devservers.free_port()
    start_process(
        "run", "--port", str(port), "--no-reload", "--no-debugger", env={"FLASK_DEBUG": "0", "WTF_CSRF_ENABLED": "0"}
    )
    devservers.wait_for_port(port, timeout=30)
    url = f"http://127.0.0.1:{port}/connexion"
    barrier = threading.Barrier(40)
    statuses: list[int] = []

    def attempt(n: int) -> None:
        with requests.Session() as session:
            barrier.wait()
            # Different addresses are not possible here; the per-account counter is what is tested.
            response = session.post(url, data={"email": "gestionnaire1@cnss.bj", "password": f"faux-{n}"}, timeout=60)
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(statuses) == 40 and all(s in (200, 429) for s in statuses), statuses
    with app.app_context():
        checked = db.session.scalar(select(func.count()).select_from(LoginFailure))
        audited = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "auth.login_failed")
        )
    assert checked <= 5 and audited <= 5, (checked, audited)
    assert statuses.count(429) >= 35
    # And the right password is refused too while the lock lasts.
    assert (
        requests.post(url, data={"email": "gestionnaire1@cnss.bj", "password": DEMO_PASSWORD}, timeout=30).status_code
        == 429
    )


def test_the_fines_api_is_limited_per_key(app, client, demo):
    from tests.factories import body

    app.config["API_RATE_LIMIT_PER_MINUTE"] = 3
    try:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        for _ in range(3):
            assert client.get("/amendes/payments/inconnu/", headers=headers).status_code == 404
        refused = client.get("/amendes/payments/inconnu/", headers=headers)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert refused.get_json()["erreur"] == "TROP_DE_REQUETES"
        # Writing is refused as well, and nothing is stored.
        posted = client.post("/amendes/payments/", json=body(1), headers={**headers, "Idempotency-Key": "k-1"})
        assert posted.status_code == 429
        from backoffice.extensions import db
        from backoffice.models.fines import FinePayment

        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(FinePayment)) == 0
        # Requests without a valid key are not counted against the key (they are 401 before).
        assert client.get("/amendes/payments/inconnu/", headers={"Authorization": "Bearer faux"}).status_code == 401
    finally:
        app.config["API_RATE_LIMIT_PER_MINUTE"] = 600


def test_the_limit_is_per_key(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import Organisation, User
    from backoffice.services import api_clients

    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == "admin@demo.bj"))
        org = db.session.scalar(select(Organisation).where(Organisation.code == "NEXT"))
        _, other_key, _ = api_clients.create_client(admin, org.id, "Autre application")
        db.session.commit()
    app.config["API_RATE_LIMIT_PER_MINUTE"] = 1
    try:
        assert client.get("/amendes/payments/x/", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 404
        assert client.get("/amendes/payments/x/", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 429
        assert client.get("/amendes/payments/x/", headers={"Authorization": f"Bearer {other_key}"}).status_code == 404
    finally:
        app.config["API_RATE_LIMIT_PER_MINUTE"] = 600
