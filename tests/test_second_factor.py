"""The second factor: sign-in with a code, enrolment, recovery codes, replay, throttling, reset, step-up."""

from __future__ import annotations

import html as html_lib
import re
import threading
import time

import pyotp
import pytest
from sqlalchemy import select

from tests.conftest import DEMO_PASSWORD, DEMO_TOTP_SECRET, login, totp_code

GESTIONNAIRE = "gestionnaire1@cnss.bj"


def _html(response) -> str:
    return html_lib.unescape(response.get_data(as_text=True))


def _password(client, email: str = GESTIONNAIRE, password: str = DEMO_PASSWORD):
    return client.post("/connexion", data={"email": email, "password": password})


def _audit(app, action: str) -> list:
    from backoffice.extensions import db
    from backoffice.models import AuditEvent

    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def _new_gestionnaire(app, demo, email: str = "nouveau@cnss.bj") -> None:
    """A gestionnaire with a known password and no second factor yet."""
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services.users import hash_password

    with app.app_context():
        db.session.add(
            User(
                email=email,
                first_name="Nouveau",
                last_name="Agent",
                organisation_id=demo["orgs"]["CNSS"],
                password_hash=hash_password(DEMO_PASSWORD),
                must_change_password=False,
            )
        )
        db.session.commit()


def test_the_password_alone_does_not_sign_in(app, client, demo):
    response = _password(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/connexion/code")
    assert client.get("/").status_code == 302  # still not signed in
    page = client.get("/connexion/code")
    assert "Code de vérification" in _html(page)
    wrong = client.post("/connexion/code", data={"code": "000000"})
    assert wrong.status_code == 200 and "Code incorrect." in _html(wrong)
    ok = client.post("/connexion/code", data={"code": totp_code(app, GESTIONNAIRE)})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert "Bonjour Koffi" in _html(client.get("/"))
    [event] = _audit(app, "auth.login")
    assert event.details["second_factor"] == "totp"


def test_demo_users_share_the_documented_secret(app, demo):
    from backoffice.extensions import db
    from backoffice.models import User

    with app.app_context():
        # People only: the API clients' technical users never sign in (inactive, no password).
        users = db.session.scalars(select(User).where(User.active.is_(True))).all()
        assert users and all(u.totp_secret == DEMO_TOTP_SECRET and u.has_second_factor for u in users)


def test_a_code_is_accepted_once(app, client, demo):
    _password(client)
    code = totp_code(app, GESTIONNAIRE)
    assert client.post("/connexion/code", data={"code": code}).status_code == 302
    client.post("/deconnexion")
    _password(client)
    again = client.post("/connexion/code", data={"code": code})
    assert again.status_code == 200 and "déjà été utilisé" in _html(again)


def test_the_code_step_expires_and_needs_the_password_first(app, client, demo):
    fresh = client.post("/connexion/code", data={"code": "123456"})
    assert "Connexion à reprendre" in _html(fresh)
    _password(client)
    with client.session_transaction() as session:
        session["pending_sign_in"] = {**session["pending_sign_in"], "at": time.time() - 301}
    assert "Connexion à reprendre" in _html(client.post("/connexion/code", data={"code": "123456"}))


def test_enrolment_at_first_sign_in(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import RecoveryCode, User

    _new_gestionnaire(app, demo)
    response = _password(client, "nouveau@cnss.bj")
    assert response.headers["Location"].endswith("/connexion/enrolement")
    page = client.get("/connexion/enrolement")
    assert page.headers["Cache-Control"] == "no-store"
    text = _html(page)
    qr = re.search(r'<div class="qr-code">(.*?)</div>', text, re.S).group(1)
    assert qr.startswith("<svg") and "<script" not in qr and "style=" not in qr  # server-drawn, CSP-safe
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', text).group(1)
    # Reloading keeps the same secret (the QR code on screen stays valid).
    assert secret in _html(client.get("/connexion/enrolement"))
    wrong = client.post("/connexion/enrolement", data={"code": "000000"})
    assert "Code incorrect" in _html(wrong)
    done = client.post("/connexion/enrolement", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([A-Z0-9]{5}-[A-Z0-9]{5})</code></li>", _html(done))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/connexion/suite").headers["Location"] == "/"
    assert client.get("/").status_code == 200
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "nouveau@cnss.bj"))
        assert user.has_second_factor
        stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
        assert len(stored) == 10 and not set(codes) & set(stored)  # hashed, never kept as typed
    assert _audit(app, "user.second_factor_enrolled")

    # A recovery code replaces the phone once.
    client.post("/deconnexion")
    _password(client, "nouveau@cnss.bj")
    used = client.post("/connexion/code", data={"code": codes[0].lower()}, follow_redirects=True)
    assert "Code de secours utilisé : il vous en reste 9." in _html(used)
    client.post("/deconnexion")
    _password(client, "nouveau@cnss.bj")
    twice = client.post("/connexion/code", data={"code": codes[0]})
    assert "Code incorrect." in _html(twice)
    assert _audit(app, "user.recovery_code_used")


def test_second_factor_is_optional_for_superviseurs_and_a_setting_for_the_others(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import User

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "superviseur@cnss.bj"))
        user.totp_secret = user.totp_confirmed_at = None
        db.session.commit()
    assert login(client, "superviseur@cnss.bj").headers["Location"] == "/"
    client.post("/deconnexion")
    _new_gestionnaire(app, demo)
    assert _password(client, "nouveau@cnss.bj").headers["Location"].endswith("/connexion/enrolement")
    app.config["TWO_FACTOR_REQUIRED"] = False
    try:
        client.delete_cookie("session")
        assert _password(client, "nouveau@cnss.bj").headers["Location"] == "/"
    finally:
        app.config["TWO_FACTOR_REQUIRED"] = True


def test_wrong_codes_are_throttled_like_passwords(app, client, demo):
    _password(client)
    for _ in range(5):
        assert "Code incorrect." in _html(client.post("/connexion/code", data={"code": "000000"}))
    blocked = client.post("/connexion/code", data={"code": totp_code(app, GESTIONNAIRE)})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Trop de codes erronés" in _html(blocked)
    assert client.get("/").status_code == 302


def test_concurrent_wrong_codes_get_at_most_five_checks(app, demo, monkeypatch):
    """40 codes sent at once for one account: the atomic counter lets at most 5 be checked."""
    from backoffice.services import twofactor

    clients = [app.test_client() for _ in range(40)]
    for c in clients:
        assert _password(c).status_code == 302
    checks = []
    real = twofactor._matching_step

    def counting(*args, **kwargs):
        checks.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(twofactor, "_matching_step", counting)
    barrier = threading.Barrier(len(clients))
    statuses = []

    def attempt(c):
        barrier.wait()
        statuses.append(c.post("/connexion/code", data={"code": "000000"}).status_code)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checks) <= 5
    assert statuses.count(429) >= 35


def test_an_admin_resets_a_second_factor(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import User

    victim = app.test_client()
    login(victim, GESTIONNAIRE)
    assert victim.get("/").status_code == 200
    login(client, "admin@demo.bj")
    user_id = demo["users"][GESTIONNAIRE]
    assert "Réinitialiser la double authentification" in _html(client.get(f"/admin/utilisateurs/{user_id}"))
    response = client.post(f"/admin/utilisateurs/{user_id}/double-authentification")
    assert response.status_code == 302
    with app.app_context():
        assert not db.session.get(User, user_id).has_second_factor
    assert victim.get("/").status_code == 302  # the user's sessions ended
    [event] = _audit(app, "user.second_factor_reset")
    assert event.user_id == demo["users"]["admin@demo.bj"] and event.object_id == str(user_id)
    assert _password(victim).headers["Location"].endswith("/connexion/enrolement")


def _pending_batch(app, demo) -> int:
    from tests.factories import cnss_draft_batch

    with app.app_context():
        from backoffice.extensions import db
        from backoffice.services.bulk import approval
        from tests.factories import user

        batch_id = cnss_draft_batch(demo)
        approval.submit_batch(user(GESTIONNAIRE), batch_id)
        db.session.commit()
        return batch_id


def _status(app, batch_id: int) -> str:
    from backoffice.extensions import db
    from backoffice.models.batches import Batch

    with app.app_context():
        return db.session.get(Batch, batch_id).status


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_approving_or_rejecting_a_batch_asks_for_a_fresh_code(app, client, demo, action):
    batch_id = _pending_batch(app, demo)
    login(client, "gestionnaire2@cnss.bj")
    with client.session_transaction() as session:
        session["second_factor_at"] = time.time() - 301  # the sign-in code is now too old
    assert 'name="code"' in _html(client.get(f"/batches/{batch_id}"))
    data = {"reason": "Montants faux"} if action == "reject" else {}
    refused = client.post(f"/batches/{batch_id}/{action}", data=data, follow_redirects=True)
    assert "demande un code récent" in _html(refused)
    assert _status(app, batch_id) == "PENDING_APPROVAL"
    wrong = client.post(f"/batches/{batch_id}/{action}", data={**data, "code": "000000"}, follow_redirects=True)
    assert "Code incorrect." in _html(wrong) and _status(app, batch_id) == "PENDING_APPROVAL"
    code = totp_code(app, "gestionnaire2@cnss.bj")
    client.post(f"/batches/{batch_id}/{action}", data={**data, "code": code})
    assert _status(app, batch_id) in ({"APPROVED", "PROCESSING"} if action == "approve" else {"REJECTED"})


def test_a_recent_code_is_not_asked_again(app, client, demo):
    batch_id = _pending_batch(app, demo)
    login(client, "gestionnaire2@cnss.bj")
    assert 'name="code"' not in _html(client.get(f"/batches/{batch_id}"))
    client.post(f"/batches/{batch_id}/reject", data={"reason": "Doublon"})
    assert _status(app, batch_id) == "REJECTED"


def test_api_keys_ask_for_a_fresh_code(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models.fines import ApiClient

    login(client, "admin@demo.bj")
    with client.session_transaction() as session:
        session["second_factor_at"] = time.time() - 301
    data = {"name": "Portail citoyen", "organisation_id": demo["orgs"]["CNSS"], "scopes": "fines:write"}
    refused = client.post("/amendes/clients-api/nouveau", data=data)
    assert "demande un code récent" in _html(refused)
    with app.app_context():
        assert db.session.scalar(select(ApiClient).where(ApiClient.name == "Portail citoyen")) is None
    created = client.post("/amendes/clients-api/nouveau", data={**data, "code": totp_code(app, "admin@demo.bj")})
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    with app.app_context():
        client_id = db.session.scalar(select(ApiClient.id).where(ApiClient.name == "Portail citoyen"))
    with client.session_transaction() as session:
        session["second_factor_at"] = time.time() - 301
    client.post(f"/amendes/clients-api/{client_id}/revoquer")
    with app.app_context():
        assert db.session.get(ApiClient, client_id).active is True


def test_top_up_approval_asks_for_a_fresh_code(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import Account
    from tests.factories import BUILDERS

    with app.app_context():
        top_up_id = BUILDERS["top_up_id"](demo)
        db.session.commit()
    login(client, "admin@demo.bj")
    with client.session_transaction() as session:
        session["second_factor_at"] = time.time() - 301
    url = f"/admin/approvisionnements/{top_up_id}/approuver"
    assert "demande un code récent" in _html(client.post(url, data={"reason": "Reçu"}, follow_redirects=True))
    account_id = demo["accounts"]["ACC-CNSS-001"]
    with app.app_context():
        assert db.session.get(Account, account_id).balance == 500_000_000
    client.post(url, data={"reason": "Reçu", "code": totp_code(app, "admin@demo.bj")})
    with app.app_context():
        assert db.session.get(Account, account_id).balance == 500_001_000
