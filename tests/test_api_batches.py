"""The bulk payments API: creation (file and JSON), submission, reading, scopes, isolation, pagination."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models.batches import Batch, BatchStatus
from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY, create_client

AUTH = {"Authorization": f"Bearer {DEMO_BATCH_CLIENT_KEY}"}
CSV = (
    "type_id,valeur_id,devise,montant,nom_complet\n"
    "MSISDN,2290197000001,XOF,1000,Awa\n"
    "MSISDN,2290197000002,XOF,2500,Koffi\n"
    "MSISDN,abc,XOF,-3,Mauvais\n"
)


@pytest.fixture(autouse=True)
def _fresh_limits():
    from backoffice.api import ratelimit

    ratelimit.reset()
    yield
    ratelimit.reset()


def _upload(client, content: str = CSV, headers=None, **fields):
    data = {"file": (io.BytesIO(content.encode()), "paie.csv"), **fields}
    return client.post(
        "/api/v1/batches", data=data, headers={**AUTH, **(headers or {})}, content_type="multipart/form-data"
    )


def _count_batches(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Batch))


def new_key(app, demo, org="CNSS", scopes=("batches:read",), name="Autre") -> str:
    with app.app_context():
        _, key, _ = create_client(None, demo["orgs"][org], name, scopes=list(scopes))
        db.session.commit()
    return key


def test_file_upload_creates_a_draft_with_its_validation_summary(app, client, demo):
    response = _upload(client, libelle="Pensions mars", periode="2026-03")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["statut"] == "DRAFT"
    assert body["reference"].startswith("LOT-")
    assert body["resume"] == {
        "lignes": 3,
        "valides": 2,
        "invalides": 1,
        "avertissements": 0,
        "montant_total": 3500,
        "devise": "XOF",
    }
    assert {e["ligne"] for e in body["erreurs"]} == {4}
    assert {e["champ"] for e in body["erreurs"]} == {"valeur_id", "montant"}
    assert body["periode"] == "2026-03" and body["origine"] == "api" and body["libelle"] == "Pensions mars"
    assert response.headers["Location"] == f"/api/v1/batches/{body['id']}"


def test_json_lines_run_the_same_checks_and_number_lines_from_one(app, client, demo):
    lignes = [
        {"type_id": "MSISDN", "valeur_id": "2290197000001", "montant": 1000, "nom_complet": "Awa"},
        {"type_id": "MSISDN", "valeur_id": "2290197000001", "montant": 500},
        {"type_id": "NOPE", "valeur_id": "x", "montant": 0},
    ]
    response = client.post("/api/v1/batches", json={"lignes": lignes, "compte_payeur": "ACC-CNSS-001"}, headers=AUTH)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    # The same beneficiary twice in one batch is an error (issue 11), numbered like any other line.
    assert body["resume"]["lignes"] == 3 and body["resume"]["valides"] == 1 and body["resume"]["invalides"] == 2
    assert {e["ligne"] for e in body["erreurs"]} == {2, 3}


def test_bad_json_shapes_are_422_per_field_and_write_nothing(app, client, demo):
    response = client.post("/api/v1/batches", json={"lignes": [{"type_id": "MSISDN", "montant": "12"}]}, headers=AUTH)
    assert response.status_code == 422
    body = response.get_json()
    assert body["erreur"] == "PARAMETRES_INVALIDES"
    fields = {e["champ"]: e["code"] for e in body["erreurs"]}
    assert fields == {"lignes.0.valeur_id": "CHAMP_MANQUANT", "lignes.0.montant": "TYPE_INVALIDE"}
    assert (
        client.post("/api/v1/batches", data="{", headers={**AUTH, "Content-Type": "application/json"}).status_code
        == 400
    )
    assert client.post("/api/v1/batches", data="x", headers={**AUTH, "Content-Type": "text/plain"}).status_code == 415
    assert _count_batches(app) == 0


def test_a_file_refused_as_a_whole_is_422_and_writes_nothing(app, client, demo):
    response = _upload(client, content="foo,bar\n1,2\n")
    assert response.status_code == 422
    body = response.get_json()
    assert body["erreur"] == "FICHIER_REFUSE" and body["erreurs"][0]["champ"] == "file"
    assert "En-tête" in body["message"]
    assert _upload(client, content="type_id,valeur_id,devise,montant\n").status_code == 422
    assert _count_batches(app) == 0
    missing = client.post("/api/v1/batches", data={"libelle": "x"}, headers=AUTH, content_type="multipart/form-data")
    assert missing.status_code == 422 and missing.get_json()["erreurs"][0]["champ"] == "file"


def test_unknown_payer_account_and_private_callback_are_refused(app, client, demo):
    response = _upload(client, compte_payeur="ACC-NEXT-001")
    assert response.status_code == 422 and response.get_json()["erreurs"][0]["champ"] == "compte_payeur"
    saved = app.config["OUTGOING_ALLOWED_NETWORKS"]
    app.config["OUTGOING_ALLOWED_NETWORKS"] = ""  # as in production (services/outgoing)
    try:
        for url in ("http://127.0.0.1:8080/x", "https://10.0.0.1/hook", "https://[::1]/h", "ftp://example.org/"):
            response = _upload(client, callback_url=url)
            assert response.status_code == 422, url
            assert response.get_json()["erreurs"][0]["champ"] == "callback_url"
    finally:
        app.config["OUTGOING_ALLOWED_NETWORKS"] = saved
    assert _count_batches(app) == 0


def test_submit_then_read_details_rows_and_status(app, client, demo):
    batch_id = _upload(client).get_json()["id"]
    refused = client.post(f"/api/v1/batches/{batch_id}/submit", json={}, headers=AUTH)
    assert refused.status_code == 422 and refused.get_json()["erreurs"][0]["champ"] == "exclure_invalides"
    response = client.post(f"/api/v1/batches/{batch_id}/submit", json={"exclure_invalides": True}, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["statut"] == "PENDING_APPROVAL"
    again = client.post(f"/api/v1/batches/{batch_id}/submit", json={"exclure_invalides": True}, headers=AUTH)
    assert again.status_code == 409 and again.get_json()["erreur"] == "ETAT_INCOMPATIBLE"

    detail = client.get(f"/api/v1/batches/{batch_id}", headers=AUTH).get_json()
    assert detail["organisation"]["code"] == "CNSS" and detail["compte_payeur"]["numero"] == "ACC-CNSS-001"
    assert [e["action"] for e in detail["chronologie"]] == ["imported", "submitted"]
    assert detail["chronologie"][0]["par"] == "Client API Paie CNSS (API)"
    assert detail["statistiques"]["par_statut"]["PENDING"]["montant"] == 3500

    rows = client.get(f"/api/v1/batches/{batch_id}/rows?statut=SKIPPED", headers=AUTH).get_json()
    assert rows["total"] == 1 and rows["lignes"][0]["ligne"] == 4 and rows["lignes"][0]["erreurs"]
    page = client.get(f"/api/v1/batches/{batch_id}/rows?limit=1&offset=1", headers=AUTH).get_json()
    assert page["total"] == 3 and [r["ligne"] for r in page["lignes"]] == [3]

    status = client.get(f"/api/v1/batches/{batch_id}/status", headers=AUTH).get_json()
    assert status["statut"] == "PENDING_APPROVAL" and status["progress_percent"] == 0 and not status["termine"]


def test_list_filters_and_pagination(app, client, demo):
    ids = [_upload(client, periode=f"2026-0{m}").get_json()["id"] for m in (1, 2, 3)]
    listed = client.get("/api/v1/batches?limit=2", headers=AUTH).get_json()
    assert listed["total"] == 3 and [b["id"] for b in listed["lots"]] == ids[::-1][:2]
    assert [b["id"] for b in client.get("/api/v1/batches?limit=2&offset=2", headers=AUTH).get_json()["lots"]] == ids[:1]
    assert client.get("/api/v1/batches?periode=2026-02", headers=AUTH).get_json()["total"] == 1
    assert client.get("/api/v1/batches?statut=COMPLETED", headers=AUTH).get_json()["total"] == 0
    assert client.get("/api/v1/batches?compte_payeur=ACC-CNSS-001", headers=AUTH).get_json()["total"] == 3
    assert client.get("/api/v1/batches?start_date=2099-01-01", headers=AUTH).get_json()["total"] == 0
    bad = client.get("/api/v1/batches?limit=201&statut=NOPE&start_date=hier", headers=AUTH)
    assert bad.status_code == 422
    assert {e["champ"] for e in bad.get_json()["erreurs"]} == {"limit", "statut", "start_date"}


def test_scopes_are_enforced(app, client, demo):
    reader = {"Authorization": f"Bearer {new_key(app, demo, scopes=['batches:read'])}"}
    response = client.post("/api/v1/batches", json={"lignes": []}, headers=reader)
    assert response.status_code == 403 and response.get_json()["erreur"] == "ACCES_REFUSE"
    assert client.get("/api/v1/batches", headers=reader).status_code == 200
    assert client.get("/api/v1/accounts", headers=reader).status_code == 403
    fines_only = {"Authorization": "Bearer demo-amendes-2026"}
    assert client.get("/api/v1/batches", headers=fines_only).status_code == 403
    assert client.get("/api/v1/batches").status_code == 401
    assert client.get("/api/v1/batches", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_another_organisation_gets_404(app, client, demo):
    batch_id = _upload(client).get_json()["id"]
    other = {
        "Authorization": f"Bearer {new_key(app, demo, org='NEXT', scopes=['batches:read', 'batches:write', 'accounts:read'])}"
    }
    for path in ("", "/rows", "/status", "/events"):
        response = client.get(f"/api/v1/batches/{batch_id}{path}", headers=other)
        assert response.status_code == 404 and response.get_json()["erreur"] == "LOT_INTROUVABLE"
    assert client.post(f"/api/v1/batches/{batch_id}/submit", json={}, headers=other).status_code == 404
    assert client.get("/api/v1/batches", headers=other).get_json()["total"] == 0
    cnss_account = demo["accounts"]["ACC-CNSS-001"]
    assert client.get(f"/api/v1/accounts/{cnss_account}/ledger", headers=other).status_code == 404
    assert [a["numero"] for a in client.get("/api/v1/accounts", headers=other).get_json()["comptes"]] == [
        "ACC-NEXT-001"
    ]


def test_accounts_ledger_and_account_batches(app, client, demo):
    accounts = client.get("/api/v1/accounts", headers=AUTH).get_json()["comptes"]
    account = next(a for a in accounts if a["numero"] == "ACC-CNSS-001")
    assert account["solde"] == 500_000_000 and account["reserve"] == 0 and account["disponible"] == 500_000_000
    ledger = client.get(f"/api/v1/accounts/{account['id']}/ledger?limit=1", headers=AUTH).get_json()
    assert ledger["total"] == 1 and ledger["ecritures"][0]["type"] == "TOPUP"
    _upload(client)
    batches = client.get(f"/api/v1/accounts/{account['id']}/batches", headers=AUTH).get_json()
    assert batches["total"] == 1


def test_unknown_paths_and_methods_answer_in_the_api_shape(app, client, demo):
    response = client.get("/api/v1/nothing-here", headers=AUTH)
    assert response.status_code == 404 and response.get_json()["erreur"] == "INTROUVABLE"
    response = client.delete("/api/v1/batches", headers=AUTH)
    assert response.status_code == 405 and response.get_json()["erreur"] == "METHODE_NON_AUTORISEE"


def test_rate_limit_per_client(app, client, demo):
    app.config.update(API_RATE_LIMIT_PER_MINUTE=3)
    try:
        codes = [client.get("/api/v1/batches", headers=AUTH).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/api/v1/batches", headers=AUTH)
        assert limited.get_json()["erreur"] == "TROP_DE_REQUETES" and int(limited.headers["Retry-After"]) >= 1
        other = {"Authorization": f"Bearer {new_key(app, demo)}"}
        assert client.get("/api/v1/batches", headers=other).status_code == 200  # per client
    finally:
        app.config.update(API_RATE_LIMIT_PER_MINUTE=30000)


def test_writes_are_audited_under_the_client(app, client, demo):
    from backoffice.models import AuditEvent

    batch_id = _upload(client).get_json()["id"]
    client.post(f"/api/v1/batches/{batch_id}/submit", json={"exclure_invalides": True}, headers=AUTH)
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(batch_id))).all()
        actions = {e.action for e in events}
        assert {"batch.imported", "api.batch_created", "batch.submitted"} <= actions
        mine = [e for e in events if e.action in {"batch.imported", "api.batch_created", "batch.submitted"}]
        assert all(e.user.full_name == "Client API Paie CNSS (API)" for e in mine)
        batch = db.session.get(Batch, batch_id)
        assert batch.status == BatchStatus.PENDING_APPROVAL.value


def test_too_many_json_lines_are_refused_as_a_whole(app, client, demo):
    app.config["IMPORT_MAX_ROWS"] = 2
    try:
        lignes = [{"type_id": "MSISDN", "valeur_id": f"229019700000{i}", "montant": 100} for i in range(1, 4)]
        response = client.post("/api/v1/batches", json={"lignes": lignes}, headers=AUTH)
    finally:
        app.config["IMPORT_MAX_ROWS"] = 200_000
    assert response.status_code == 422
    assert response.get_json()["erreur"] == "FICHIER_REFUSE" and response.get_json()["erreurs"][0]["champ"] == "lignes"
    assert _count_batches(app) == 0


def test_the_period_given_to_the_api_is_the_batch_s_payment_period(app, client, demo):
    """`periode` feeds the double-payment guard like the upload page's period (issue 11)."""
    from_file = _upload(client, libelle="Pensions mars", periode="2026-03").get_json()
    lignes = [{"type_id": "MSISDN", "valeur_id": "2290197000009", "montant": 1000}]
    from_json = client.post(
        "/api/v1/batches", json={"lignes": lignes, "compte_payeur": "ACC-CNSS-001", "periode": "2026-04"}, headers=AUTH
    ).get_json()
    with app.app_context():
        assert db.session.get(Batch, from_file["id"]).payment_period == "2026-03"
        assert db.session.get(Batch, from_json["id"]).payment_period == "2026-04"
