"""Sessions that end: a copied cookie dies with sign-out, password change, deactivation, idle time."""

from __future__ import annotations

import time

from sqlalchemy import select

from tests.conftest import DEMO_PASSWORD, login

EMAIL = "gestionnaire1@cnss.bj"


def _copy(app, client):
    """A second browser holding a copy of `client`'s session cookie (a stolen or forgotten one)."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


def _signed_in(c) -> bool:
    return c.get("/").status_code == 200


def test_a_copied_cookie_dies_with_sign_out(app, client, demo):
    login(client, EMAIL)
    thief = _copy(app, client)
    assert _signed_in(thief)
    client.post("/deconnexion")
    assert not _signed_in(thief)


def test_sign_out_ends_the_sessions_on_other_devices(app, client, demo):
    login(client, EMAIL)
    laptop = app.test_client()
    login(laptop, EMAIL)
    laptop.post("/deconnexion", data={"everywhere": "1"})
    assert not _signed_in(client)
    from backoffice.extensions import db
    from backoffice.models import AuditEvent

    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "auth.logout_everywhere"))


def test_a_password_change_ends_every_other_session(app, client, demo):
    login(client, EMAIL)
    thief = _copy(app, client)
    new = "Baobab-Cotonou-2027"
    response = client.post("/mot-de-passe", data={"current": DEMO_PASSWORD, "new": new, "confirm": new})
    assert response.status_code == 302
    assert _signed_in(client)  # this one carries on
    assert not _signed_in(thief)


def test_deactivation_ends_the_users_sessions(app, client, demo):
    login(client, EMAIL)
    admin = app.test_client()
    login(admin, "admin@demo.bj")
    admin.post(f"/admin/utilisateurs/{demo['users'][EMAIL]}/activation")
    assert not _signed_in(client)
    admin.post(f"/admin/utilisateurs/{demo['users'][EMAIL]}/activation")  # reactivated: the old cookie stays dead
    assert not _signed_in(client)


def test_an_idle_session_ends(app, client, demo):
    login(client, EMAIL)
    idle = app.config["SESSION_IDLE_MINUTES"] * 60
    with client.session_transaction() as session:
        session["seen_at"] = time.time() - idle + 60
    assert _signed_in(client)  # within the idle time, and the visit counts as activity
    with client.session_transaction() as session:
        assert session["seen_at"] > time.time() - 60
        session["seen_at"] = time.time() - idle - 1
    response = client.get("/")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]
    assert "Votre session a expiré" in client.get("/connexion").get_data(as_text=True)


def test_a_session_ends_after_its_lifetime_even_when_busy(app, client, demo):
    login(client, EMAIL)
    with client.session_transaction() as session:
        session["signed_in_at"] = time.time() - app.config["PERMANENT_SESSION_LIFETIME"] - 1
    assert not _signed_in(client)


def test_an_old_style_cookie_id_is_refused(app, client, demo):
    login(client, EMAIL)
    with client.session_transaction() as session:
        session["_user_id"] = str(demo["users"][EMAIL])  # no version: from before session versions
    assert not _signed_in(client)
