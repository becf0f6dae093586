"""API clients: stored scopes chosen on the admin page, technical users that never sign in, and approval
through the API only where the organisation allows it and never by the client that created the batch."""

from __future__ import annotations

import io

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.fines import ApiClient
from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY, create_client, hash_key
from tests.conftest import login

AUTH = {"Authorization": f"Bearer {DEMO_BATCH_CLIENT_KEY}"}
CSV = b"type_id,valeur_id,devise,montant\nMSISDN,2290197000001,XOF,1000\n"


def _key(app, demo, scopes, name="Approbateur", org="CNSS") -> dict:
    with app.app_context():
        _, key, _ = create_client(None, demo["orgs"][org], name, scopes=scopes)
        db.session.commit()
    return {"Authorization": f"Bearer {key}"}


def _submitted_batch(client, headers=AUTH) -> int:
    data = {"file": (io.BytesIO(CSV), "a.csv")}
    batch_id = client.post(
        "/api/v1/batches", data=data, headers=headers, content_type="multipart/form-data"
    ).get_json()["id"]
    assert client.post(f"/api/v1/batches/{batch_id}/submit", json={}, headers=headers).status_code == 200
    return batch_id


def test_admin_creates_a_key_with_the_scopes_ticked(app, client, demo, login_as):
    admin = login_as("admin@demo.bj")
    form = admin.get("/amendes/clients-api/nouveau").get_data(as_text=True)
    assert 'type="checkbox"' in form and "batches:approve" in form
    refused = admin.post("/amendes/clients-api/nouveau", data={"name": "Paie", "organisation_id": demo["orgs"]["CNSS"]})
    assert "Choisissez au moins un droit." in refused.get_data(as_text=True)
    created = admin.post(
        "/amendes/clients-api/nouveau",
        data={"name": "Paie", "organisation_id": demo["orgs"]["CNSS"], "scopes": ["batches:read", "accounts:read"]},
    )
    assert created.status_code == 200 and "batches:read" in created.get_data(as_text=True)
    with app.app_context():
        api_client = db.session.scalar(select(ApiClient).where(ApiClient.name == "Paie"))
        assert api_client.scopes == ["batches:read", "accounts:read"]
        assert len(api_client.key_hash) == 64  # only the hash is stored
    listing = admin.get("/amendes/clients-api").get_data(as_text=True)
    assert "accounts:read" in listing and "Approbation des lots par l'API" in listing


def test_technical_users_cannot_sign_in(app, client, demo):
    with app.app_context():
        api_client = db.session.scalar(select(ApiClient).where(ApiClient.key_hash == hash_key(DEMO_BATCH_CLIENT_KEY)))
        user = db.session.get(User, api_client.user_id)
        assert not user.active and user.email.endswith("@clients-api.invalid")
        email = user.email
    for password in ("", "!", DEMO_BATCH_CLIENT_KEY):
        assert login(client, email, password).status_code != 302


def test_approval_through_the_api_is_off_by_default(app, client, demo):
    approver = _key(app, demo, ["batches:approve", "batches:read"])
    batch_id = _submitted_batch(client)
    response = client.post(f"/api/v1/batches/{batch_id}/approve", headers=approver)
    assert response.status_code == 403 and response.get_json()["erreur"] == "ACTION_INTERDITE"
    assert client.post(f"/api/v1/batches/{batch_id}/approve", headers=AUTH).status_code == 403  # no scope


def test_a_different_client_approves_where_the_organisation_allows_it(app, client, demo, login_as):
    admin = login_as("admin@demo.bj")
    admin.post(f"/amendes/clients-api/organisations/{demo['orgs']['CNSS']}/approbation", data={"allowed": "y"})
    client.post("/deconnexion")
    creator = _key(app, demo, ["batches:read", "batches:write", "batches:approve"], name="Créateur")
    approver = _key(app, demo, ["batches:approve", "batches:read"])
    own = _submitted_batch(client, creator)
    refused = client.post(f"/api/v1/batches/{own}/approve", headers=creator)
    assert refused.status_code == 403 and "autre gestionnaire" in refused.get_json()["message"]
    approved = client.post(f"/api/v1/batches/{own}/approve", headers=approver)
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["statut"] in ("APPROVED", "PROCESSING")
    other = _submitted_batch(client)
    rejected = client.post(f"/api/v1/batches/{other}/reject", json={"motif": "Montants à revoir"}, headers=approver)
    assert rejected.status_code == 200 and rejected.get_json()["statut"] == "REJECTED"
    detail = client.get(f"/api/v1/batches/{own}", headers=AUTH).get_json()
    assert [e["par"] for e in detail["chronologie"] if e["action"] == "approved"] == ["Client API Approbateur"]
    nextmr = _key(app, demo, ["batches:approve"], name="Ailleurs", org="NEXT")
    assert client.post(f"/api/v1/batches/{other}/approve", headers=nextmr).status_code == 404
