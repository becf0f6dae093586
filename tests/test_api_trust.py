"""The bulk payments API shows the trust controls (issue 13 after issue 11): each row's payee
verification and double-payment flag, the batch's summaries, and the period filter that reads
every batch's own payment period."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import update

from backoffice.extensions import db
from backoffice.models.batches import Batch, BatchRow
from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY
from backoffice.services.bulk import approval, guard, verification
from tests.factories import fresh_batch, import_bytes, user
from tests.support import configured_app, run_jobs
from tests.test_trust import FAST_VERIFY, _paid_batch

AUTH = {"Authorization": f"Bearer {DEMO_BATCH_CLIENT_KEY}"}
G1, G2 = "gestionnaire1@cnss.bj", "gestionnaire2@cnss.bj"
CSV = (
    "type_id,valeur_id,devise,montant,nom_complet\n"
    "MSISDN,2290197000001,XOF,5000,AWA DOSSOU\n"
    "MSISDN,2290197000002,XOF,6000,Koffi Agossou\n"
    "MSISDN,2290197000003,XOF,7000,Afi Mensah\n"
)


@pytest.fixture(autouse=True)
def _fresh_limits():
    from backoffice.api import ratelimit

    ratelimit.reset()
    yield
    ratelimit.reset()


def test_rows_and_detail_carry_the_verification_and_the_guard_flags(app, client, demo, sim):
    period = "2026-05"
    sim.configure(
        party_names={"2290197000001": "Awa Dossou", "2290197000002": "Jean Houngbédji", "2290197000003": "Afi Mensah"}
    )
    with app.app_context():
        paid = _paid_batch(demo, ["2290197000003"], period, amount=7000)
        paid_reference = fresh_batch(paid).reference
    created = client.post(
        "/api/v1/batches",
        data={"file": (io.BytesIO(CSV.encode()), "paie.csv"), "periode": period},
        headers=AUTH,
        content_type="multipart/form-data",
    )
    assert created.status_code == 201, created.get_json()
    batch_id = created.get_json()["id"]

    before = client.get(f"/api/v1/batches/{batch_id}/rows", headers=AUTH).get_json()["lignes"]
    assert before[0]["verification"] == {
        "statut": None,
        "statut_libelle": "Pas encore vérifié",
        "correspondance": None,
        "correspondance_libelle": None,
        "score": None,
        "nom_mojaloop": None,
        "fsp": None,
    }
    assert all(r["double_paiement"] is None for r in before)
    assert client.get(f"/api/v1/batches/{batch_id}", headers=AUTH).get_json()["verification"]["etat"] == "NOT_STARTED"

    with configured_app(app, FAST_VERIFY, sim.url):
        verification.start_verification(user(G1), batch_id)
        run_jobs(app)
    assert client.post(f"/api/v1/batches/{batch_id}/submit", json={}, headers=AUTH).status_code == 200

    rows = {
        r["valeur_id"]: r for r in client.get(f"/api/v1/batches/{batch_id}/rows", headers=AUTH).get_json()["lignes"]
    }
    awa = rows["2290197000001"]["verification"]
    assert (awa["statut"], awa["statut_libelle"], awa["correspondance"], awa["nom_mojaloop"]) == (
        "FOUND",
        "Trouvé",
        "CONCORDANT",
        "Awa Dossou",
    )
    assert awa["score"] >= 85 and awa["fsp"]
    koffi = rows["2290197000002"]["verification"]
    assert (koffi["correspondance"], koffi["correspondance_libelle"], koffi["nom_mojaloop"]) == (
        "DISCORDANT",
        "Discordant",
        "Jean Houngbédji",
    )
    assert koffi["score"] < 60
    assert rows["2290197000001"]["double_paiement"] is None
    flag = rows["2290197000003"]["double_paiement"]
    assert flag["code"] == "ALREADY_PAID_FOR_PERIOD"
    assert (flag["lot_id"], flag["lot_reference"], flag["montant"], flag["devise"]) == (
        paid,
        paid_reference,
        7000,
        "XOF",
    )
    assert flag["statut_autre_ligne"] == "COMPLETED" and flag["date"]
    assert flag["message"].startswith(f"Déjà payé pour cette période : lot {paid_reference} du ")
    assert (flag["exclue"], flag["confirmee"]) == (False, False)

    detail = client.get(f"/api/v1/batches/{batch_id}", headers=AUTH).get_json()
    assert detail["periode"] == period
    summary = detail["verification"]
    assert (summary["etat"], summary["etat_libelle"]) == ("DONE", "Terminée") and summary["verifie_le"]
    assert summary["par_resultat"] == {"FOUND": 3, "NOT_FOUND": 0, "UNVERIFIED": 0}
    assert summary["par_correspondance"] == {"CONCORDANT": 2, "A_CONTROLER": 0, "DISCORDANT": 1}
    alerts = detail["alertes"]
    assert (alerts["deja_payees"], alerts["noms_discordants"], alerts["confirmation_requise"]) == (1, 1, True)
    assert alerts["motifs"] == ["1\u00a0ligne déjà payée pour cette période", "1\u00a0ligne au nom discordant"]
    assert alerts["confirmation"] is None

    with app.app_context():
        approval.approve_batch(user(G2), batch_id, acknowledgement="Rappel validé par la direction.")
    detail = client.get(f"/api/v1/batches/{batch_id}", headers=AUTH).get_json()
    confirmation = detail["alertes"]["confirmation"]
    assert confirmation["motif"] == "Rappel validé par la direction." and confirmation["le"]
    assert confirmation["par"]
    rows = {
        r["valeur_id"]: r for r in client.get(f"/api/v1/batches/{batch_id}/rows", headers=AUTH).get_json()["lignes"]
    }
    assert rows["2290197000003"]["double_paiement"]["confirmee"] is True


def test_an_excluded_flagged_row_says_so(app, client, demo):
    from backoffice.services.bulk import drafts

    with app.app_context():
        period = guard.current_period()
        _paid_batch(demo, ["2290197000001"], period)
    lignes = [
        {"type_id": "MSISDN", "valeur_id": "2290197000001", "montant": 5000},
        {"type_id": "MSISDN", "valeur_id": "2290197000002", "montant": 6000},
    ]
    batch_id = client.post("/api/v1/batches", json={"lignes": lignes, "periode": period}, headers=AUTH).get_json()["id"]
    client.post(f"/api/v1/batches/{batch_id}/submit", json={}, headers=AUTH)
    with app.app_context():
        row = db.session.scalar(
            db.select(BatchRow).where(BatchRow.batch_id == batch_id, BatchRow.party_id_value == "2290197000001")
        )
        drafts.exclude_row(user(G2), row.id, "Déjà payé le 3")
        db.session.commit()
    rows = client.get(f"/api/v1/batches/{batch_id}/rows?statut=SKIPPED", headers=AUTH).get_json()["lignes"]
    assert len(rows) == 1 and rows[0]["ligne"] == 1
    assert (rows[0]["double_paiement"]["exclue"], rows[0]["double_paiement"]["confirmee"]) == (True, False)
    alerts = client.get(f"/api/v1/batches/{batch_id}", headers=AUTH).get_json()["alertes"]
    assert alerts["deja_payees"] == 0 and alerts["confirmation_requise"] is False


def test_the_period_filter_finds_back_office_batches_too(app, client, demo):
    from_api = client.post(
        "/api/v1/batches",
        json={"lignes": [{"type_id": "MSISDN", "valeur_id": "2290197000001", "montant": 100}], "periode": "2026-07"},
        headers=AUTH,
    ).get_json()["id"]
    with app.app_context():
        from_page = import_bytes(demo, b"type_id,valeur_id,devise,montant\nMSISDN,2290197000002,XOF,100\n")
        other = import_bytes(demo, b"type_id,valeur_id,devise,montant\nMSISDN,2290197000003,XOF,100\n")
        db.session.execute(update(Batch).where(Batch.id == from_page).values(payment_period="2026-07"))
        db.session.execute(update(Batch).where(Batch.id == other).values(payment_period="2026-08"))
        db.session.commit()
    found = client.get("/api/v1/batches?periode=2026-07", headers=AUTH).get_json()
    assert found["total"] == 2
    assert {(b["id"], b["origine"], b["periode"]) for b in found["lots"]} == {
        (from_api, "api", "2026-07"),
        (from_page, "back-office", "2026-07"),
    }
    account_id = demo["accounts"]["ACC-CNSS-001"]
    by_account = client.get(f"/api/v1/accounts/{account_id}/batches?periode=2026-08", headers=AUTH).get_json()
    assert [b["id"] for b in by_account["lots"]] == [other]
