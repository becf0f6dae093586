"""Sign-in, throttling, forced password change, CSRF, cookies, headers and redirects."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import select

from tests.conftest import DEMO_PASSWORD, finish_sign_in, login, totp_code

LOCKED = "Trop de tentatives échouées"
WRONG = "Adresse e-mail ou mot de passe incorrect."


def _login_from(client, email: str, password: str, ip: str):
    return client.post("/connexion", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip})


def _html(response) -> str:
    """The page text with entities decoded (Jinja escapes apostrophes)."""
    return html_lib.unescape(response.get_data(as_text=True))


# Sign-in ---------------------------------------------------------------------------------


def test_sign_in_success_lands_on_home(client, demo):
    response = login(client, "gestionnaire1@cnss.bj")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Bonjour Koffi" in _html(home)


def test_sign_in_failure_shows_french_message(client, demo):
    response = login(client, "gestionnaire1@cnss.bj", "mauvais-mot-de-passe")
    assert response.status_code == 200
    assert WRONG in _html(response)
    # Unknown accounts get exactly the same answer: no hint which emails exist.
    unknown = login(client, "personne@cnss.bj", "mauvais-mot-de-passe")
    assert WRONG in _html(unknown)
    assert client.get("/").status_code == 302


def test_sign_in_is_case_insensitive_on_email(client, demo):
    assert login(client, "  Gestionnaire1@CNSS.bj ").status_code == 302


def test_empty_form_shows_field_errors(client, demo):
    response = client.post("/connexion", data={"email": "", "password": ""})
    assert response.status_code == 200
    assert _html(response).count("Ce champ est obligatoire.") == 2


def test_sign_out(client, demo):
    login(client, "gestionnaire1@cnss.bj")
    response = client.post("/deconnexion")
    assert response.status_code == 302
    assert "/connexion" in response.headers["Location"]
    assert client.get("/").status_code == 302


def test_sign_in_records_last_login_and_audit(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import AuditEvent, User

    login(client, "gestionnaire1@cnss.bj")
    with app.app_context():
        user = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
        assert user.last_login_at is not None
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.user_id == user.id)).all()
        assert "auth.login" in actions


# Lockout ---------------------------------------------------------------------------------


def _lock_window_passes(app) -> None:
    """The sign-in counters live LOGIN_LOCK_MINUTES in Redis: check that, then let them expire now."""
    import time

    import redis

    connection = redis.Redis.from_url(app.config["REDIS_URL"])
    keys = connection.keys("throttle:login:*")
    assert keys
    for key in keys:
        assert 0 < connection.ttl(key) <= app.config["LOGIN_LOCK_MINUTES"] * 60
        connection.pexpire(key, 1)
    while any(connection.exists(k) for k in keys):
        time.sleep(0.01)


def test_lockout_per_account_after_five_failures(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import LoginFailure

    email = "gestionnaire1@cnss.bj"
    # Failures from different addresses still count against the account.
    for attempt in range(1, 5):
        response = _login_from(client, email, "faux", f"10.0.0.{attempt}")
        assert WRONG in _html(response), attempt
    fifth = _login_from(client, email, "faux", "10.0.0.5")
    assert LOCKED in _html(fifth)
    # The sixth attempt is refused even with the right password, from a fresh address.
    sixth = _login_from(client, email, DEMO_PASSWORD, "10.0.0.6")
    assert sixth.status_code == 429
    page = _html(sixth)
    assert LOCKED in page and "15 minutes" in page
    assert client.get("/").status_code == 302  # not signed in
    # Other accounts are not affected.
    assert _login_from(client, "gestionnaire2@cnss.bj", DEMO_PASSWORD, "10.0.0.7").status_code == 302
    client.post("/deconnexion")

    # The failures are still recorded for the audit trail.
    with app.app_context():
        assert len(db.session.scalars(select(LoginFailure)).all()) == 5
    # After LOGIN_LOCK_MINUTES the failures no longer count.
    _lock_window_passes(app)
    assert _login_from(client, email, DEMO_PASSWORD, "10.0.0.6").status_code == 302


def test_lockout_per_address(app, client, demo):

    attacker = "192.0.2.10"
    for n in range(5):
        _login_from(client, f"inconnu{n}@cnss.bj", "faux", attacker)
    # A real account from the same address is refused, even with its right password.
    response = _login_from(client, "superviseur@cnss.bj", DEMO_PASSWORD, attacker)
    assert response.status_code == 429
    assert LOCKED in _html(response)
    # From another address the same account signs in.
    assert _login_from(client, "superviseur@cnss.bj", DEMO_PASSWORD, "192.0.2.11").status_code == 302
    client.post("/deconnexion")
    _lock_window_passes(app)
    assert _login_from(client, "superviseur@cnss.bj", DEMO_PASSWORD, attacker).status_code == 302


def test_successful_sign_in_clears_account_failures(app, client, demo):
    email = "gestionnaire1@cnss.bj"
    for n in range(4):
        _login_from(client, email, "faux", f"10.1.0.{n}")
    assert _login_from(client, email, DEMO_PASSWORD, "10.1.0.9").status_code == 302
    client.post("/deconnexion")
    # The counter started again: four more failures do not lock.
    for n in range(4):
        assert WRONG in _html(_login_from(client, email, "faux", f"10.2.0.{n}"))
    assert _login_from(client, email, DEMO_PASSWORD, "10.2.0.9").status_code == 302


# Inactive accounts ------------------------------------------------------------------------


def test_inactive_user_cannot_sign_in(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import User

    with app.app_context():
        db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"]).active = False
        db.session.commit()
    response = login(client, "gestionnaire1@cnss.bj")
    assert response.status_code == 200
    assert WRONG in _html(response)


def test_inactive_organisation_cannot_sign_in(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import Organisation

    with app.app_context():
        db.session.get(Organisation, demo["orgs"]["CNSS"]).active = False
        db.session.commit()
    for email in ("gestionnaire1@cnss.bj", "superviseur@cnss.bj"):
        assert WRONG in _html(login(client, email))
    # Another organisation is unaffected.
    assert login(client, "gestionnaire@next.mr").status_code == 302


def test_deactivation_ends_an_open_session(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import User

    login(client, "gestionnaire1@cnss.bj")
    assert client.get("/").status_code == 200
    with app.app_context():
        db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"]).active = False
        db.session.commit()
    response = client.get("/")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


# Forced password change -------------------------------------------------------------------


@pytest.fixture
def temporary_user(app, demo):
    """gestionnaire1 with a temporary password, as after creation by an admin."""
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services.users import hash_password

    with app.app_context():
        user = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
        user.password_hash = hash_password("Temporaire-123")
        user.must_change_password = True
        db.session.commit()
    return "gestionnaire1@cnss.bj", "Temporaire-123"


def test_temporary_password_forces_a_change(app, client, temporary_user):
    email, temporary = temporary_user
    response = login(client, email, temporary)
    assert response.status_code == 302
    assert response.headers["Location"] == "/mot-de-passe"
    # Every page sends the user back to the password form until it is changed.
    for path in ("/", "/admin/organisations", "/sante?x=1"):
        r = client.get(path)
        if path.startswith("/sante"):
            assert r.status_code == 200  # public pages stay public
        else:
            assert r.status_code == 302 and r.headers["Location"] == "/mot-de-passe", path
    page = client.get("/mot-de-passe")
    assert page.status_code == 200
    assert "Changer de mot de passe" in _html(page)
    # Signing out is still possible before the change.
    out = client.post("/deconnexion")
    assert out.status_code == 302 and "/connexion" in out.headers["Location"]
    assert "/connexion" in client.get("/").headers["Location"]


def test_password_rules_give_french_field_errors(app, client, temporary_user):
    email, temporary = temporary_user
    login(client, email, temporary)

    def submit(current, new, confirm=None):
        return _html(client.post("/mot-de-passe", data={"current": current, "new": new, "confirm": confirm or new}))

    assert "Au moins 12 caractères." in submit(temporary, "court")
    assert "ne doit pas être votre adresse e-mail" in submit(temporary, email)
    assert "trop courant ou trop facile à deviner" in submit(temporary, "password1234")
    assert "ni votre nom, ni votre prénom" in submit(temporary, "Super-Agossou-Banane")
    assert "Les deux mots de passe diffèrent." in submit(temporary, "Nouveau-Secret-Iroko-1", "Autre-Secret-2")
    assert "Le mot de passe actuel est incorrect." in submit("pas-le-bon", "Nouveau-Secret-Iroko-1")
    assert "doit être différent de l'actuel" in submit(temporary, temporary)
    # Errors sit next to their field.
    html = submit(temporary, "court")
    assert re.search(r'name="new"[^>]*>\s*<p class="error">Au moins 12 caractères.</p>', html)
    # Still forced.
    assert client.get("/").headers["Location"] == "/mot-de-passe"

    response = client.post(
        "/mot-de-passe", data={"current": temporary, "new": "Nouveau-Secret-Iroko-1", "confirm": "Nouveau-Secret-Iroko-1"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200

    client.post("/deconnexion")
    assert WRONG in _html(login(client, email, temporary))
    assert login(client, email, "Nouveau-Secret-Iroko-1").status_code == 302

    from backoffice.extensions import db
    from backoffice.models import AuditEvent

    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "user.password_changed" in actions


# CSRF ------------------------------------------------------------------------------------


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def _token(client, path: str) -> str:
    html = _html(client.get(path))
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, "the page carries its CSRF token in hx-headers"
    return match.group(1)


def test_post_without_csrf_token_is_refused(client, demo, csrf_on):
    response = client.post("/connexion", data={"email": "gestionnaire1@cnss.bj", "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert "Jeton de sécurité (CSRF) manquant ou expiré" in _html(response)
    assert client.get("/").status_code == 302  # not signed in


def test_sign_in_with_the_form_token(client, demo, csrf_on):
    html = _html(client.get("/connexion"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post(
        "/connexion", data={"email": "gestionnaire1@cnss.bj", "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def test_htmx_post_with_header_token(app, client, demo, csrf_on):
    """The token that rides in hx-headers on <body> is accepted as X-CSRFToken."""
    from backoffice.extensions import db
    from backoffice.models import Organisation

    html = _html(client.get("/connexion"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    client.post("/connexion", data={"email": "admin@demo.bj", "password": DEMO_PASSWORD, "csrf_token": token})
    code_page = _html(client.get("/connexion/code"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', code_page).group(1)
    code = totp_code(app, "admin@demo.bj")
    assert client.post("/connexion/code", data={"code": code, "csrf_token": token}).status_code == 302
    org_id = demo["orgs"]["NEXT"]
    url = f"/admin/organisations/{org_id}/activation"

    refused = client.post(url, headers={"HX-Request": "true"})
    assert refused.status_code == 400
    header_token = _token(client, "/admin/organisations")
    accepted = client.post(url, headers={"HX-Request": "true", "X-CSRFToken": header_token})
    assert accepted.status_code == 302
    with app.app_context():
        assert db.session.get(Organisation, org_id).active is False
    # A wrong token is refused as well.
    assert client.post(url, headers={"X-CSRFToken": "faux"}).status_code == 400


def test_htmx_requests_are_redirected_as_whole_pages(app, client, temporary_user):
    """A fragment request never swaps the sign-in or password page into the fragment."""
    anonymous = client.get("/", headers={"HX-Request": "true"})
    assert anonymous.status_code == 401 and anonymous.headers["HX-Redirect"] == "/connexion"
    email, temporary = temporary_user
    login(client, email, temporary)
    forced = client.get("/", headers={"HX-Request": "true"})
    assert forced.status_code == 401 and forced.headers["HX-Redirect"] == "/mot-de-passe"


# Cookies, headers, redirects --------------------------------------------------------------


def test_session_cookie_is_httponly_and_samesite(client, demo):
    response = login(client, "gestionnaire1@cnss.bj")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_security_headers(client, demo):
    response = client.get("/connexion")
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "'self'" in script_src
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] in {"same-origin", "strict-origin-when-cross-origin", "no-referrer"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # No inline script or style in the page itself (the CSP would block them).
    html = _html(response)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "style=" not in html and "<style" not in html


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
    ],
)
def test_next_never_leaves_the_site(client, demo, target):
    response = client.post(
        "/connexion", query_string={"next": target}, data={"email": "gestionnaire1@cnss.bj", "password": DEMO_PASSWORD}
    )
    response = finish_sign_in(client, response, "gestionnaire1@cnss.bj")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_follows_a_local_path(client, demo):
    first = client.get("/mot-de-passe")
    assert first.status_code == 302 and "next=" in first.headers["Location"]
    response = client.post(
        "/connexion",
        query_string={"next": "/mot-de-passe?x=1"},
        data={"email": "gestionnaire1@cnss.bj", "password": DEMO_PASSWORD},
    )
    response = finish_sign_in(client, response, "gestionnaire1@cnss.bj")
    assert response.headers["Location"] == "/mot-de-passe?x=1"
