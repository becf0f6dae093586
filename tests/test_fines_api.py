"""The fines JSON API: keys, every bad input with its status and French message, fast 202, duplicates."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.jobs import fines as fines_jobs
from backoffice.models.fines import FinePayment, FinePaymentEvent, FinePaymentItem
from backoffice.services.fines import dispatch
from tests.factories import body
from tests.support import AUTH, post


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(FinePayment))


# Authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer wrong-key", "Basic ZGVtbzpkZW1v", "demo-amendes-2026"])
def test_no_valid_key_is_401(client, demo, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.post("/amendes/payments/", json=body(1), headers=headers)
    assert response.status_code == 401
    assert response.get_json()["erreur"] == "NON_AUTHENTIFIE"
    assert "Clé d'API" in response.get_json()["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/amendes/payments/abc/", headers=headers).status_code == 401


def test_revoked_key_is_401(app, client, demo):
    from backoffice.models.fines import ApiClient

    with app.app_context():
        db.session.execute(ApiClient.__table__.update().values(active=False))
        db.session.commit()
    # Revoked behind the app's back: other processes notice within the key cache's TTL.
    from backoffice.api.auth import forget_cached_keys

    forget_cached_keys()
    assert post(client, body(1)).status_code == 401


# Bad input: status, stable code, French message naming the field ------------------------------


def _errors(response) -> dict:
    data = response.get_json()
    return {e["champ"]: e for e in data.get("erreurs", [])}


def test_missing_fields_are_all_named(client, demo):
    response = post(client, {})
    assert response.status_code == 422
    data = response.get_json()
    assert data["erreur"] == "PARAMETRES_INVALIDES"
    assert "5 erreurs" in data["message"]
    errors = _errors(response)
    assert set(errors) == {"reference", "telephone", "amendes", "montant", "devise"}
    assert all(e["code"] == "CHAMP_MANQUANT" for e in errors.values())
    assert errors["telephone"]["message"] == "Le champ « telephone » est obligatoire."


@pytest.mark.parametrize(
    ("overrides", "field", "code", "words"),
    [
        ({"reference": ""}, "reference", "CHAMP_VIDE", "ne doit pas être vide"),
        ({"reference": "   "}, "reference", "CHAMP_VIDE", "ne doit pas être vide"),
        ({"reference": "a b"}, "reference", "REFERENCE_INVALIDE", "La référence"),
        ({"reference": 12}, "reference", "TYPE_INVALIDE", "chaîne de caractères"),
        ({"telephone": ""}, "telephone", "CHAMP_VIDE", "ne doit pas être vide"),
        ({"telephone": "97000001"[:5]}, "telephone", "MSISDN_INVALIDE", "MSISDN"),
        ({"telephone": "0997000001"}, "telephone", "MSISDN_INVALIDE", "MSISDN"),
        ({"telephone": "229 97 00 00 01"}, "telephone", "MSISDN_INVALIDE", "sans espaces"),
        ({"telephone": "2299700000123456"}, "telephone", "MSISDN_INVALIDE", "8 à 15 chiffres"),
        ({"amendes": []}, "amendes", "LISTE_VIDE", "ne doit pas être vide"),
        ({"amendes": "AM-2025-000101"}, "amendes", "TYPE_INVALIDE", "liste"),
        ({"amendes": ["AM-2025-000101", "AM-2025-000101"]}, "amendes[1]", "AMENDE_REPETEE", "plusieurs fois"),
        ({"amendes": ["AM-2025-000101", ""]}, "amendes[1]", "NUMERO_AMENDE_INVALIDE", "numéro"),
        ({"amendes": [f"AM-{i}" for i in range(21)]}, "amendes", "TROP_D_AMENDES", "au plus 20"),
        ({"montant": 25000.0}, "montant", "MONTANT_INVALIDE", "entier positif"),
        ({"montant": 250.5}, "montant", "MONTANT_INVALIDE", "entier positif"),
        ({"montant": "25000"}, "montant", "MONTANT_INVALIDE", "entier positif"),
        ({"montant": True}, "montant", "MONTANT_INVALIDE", "entier positif"),
        ({"montant": 0}, "montant", "MONTANT_INVALIDE", "entier positif"),
        ({"montant": -5000}, "montant", "MONTANT_INVALIDE", "entier positif"),
        ({"devise": "EUR"}, "devise", "DEVISE_NON_PRISE_EN_CHARGE", "Devise non prise en charge"),
        ({"devise": ""}, "devise", "CHAMP_VIDE", "ne doit pas être vide"),
        ({"callback_url": "ftp://x"}, "callback_url", "URL_INVALIDE", "http(s)"),
        ({"callback_url": "pas une url"}, "callback_url", "URL_INVALIDE", "http(s)"),
    ],
)
def test_each_bad_field(app, client, demo, overrides, field, code, words):
    response = post(client, body(1, **overrides))
    assert response.status_code == 422, response.get_json()
    errors = _errors(response)
    assert list(errors) == [field]
    assert errors[field]["code"] == code
    assert words in errors[field]["message"]
    assert _count(app) == 0


def test_several_bad_fields_are_reported_together(client, demo):
    response = post(client, body(1, telephone="abc", montant=1.5, devise="USD"))
    assert response.status_code == 422
    assert set(_errors(response)) == {"telephone", "montant", "devise"}


def test_malformed_json(client, demo):
    response = post(client, None, raw=b'{"reference": "APP-1", ')
    assert response.status_code == 400
    assert response.get_json() == {
        "erreur": "JSON_INVALIDE",
        "message": "Le corps de la requête n'est pas un JSON valide.",
    }


def test_json_that_is_not_an_object(client, demo):
    response = post(client, None, raw=b"[1, 2]")
    assert response.status_code == 400
    assert response.get_json()["message"] == "Le corps de la requête doit être un objet JSON."


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type(client, demo, content_type):
    response = post(client, None, raw=json.dumps(body(1)).encode(), content_type=content_type)
    assert response.status_code == 415
    data = response.get_json()
    assert data["erreur"] == "TYPE_DE_CONTENU_INVALIDE"
    assert "application/json" in data["message"]


def test_body_too_large(app, client, demo):
    huge = body(1, reference="APP-1")
    huge["padding"] = "x" * (app.config["FINES_API_MAX_BODY_BYTES"] + 10)
    response = post(client, huge)
    assert response.status_code == 413
    data = response.get_json()
    assert data["erreur"] == "REQUETE_TROP_VOLUMINEUSE"
    assert "taille maximale" in data["message"]
    assert _count(app) == 0


def test_bad_idempotency_key(client, demo):
    response = post(client, body(1), headers={"Idempotency-Key": "a b"})
    assert response.status_code == 422
    assert _errors(response)["Idempotency-Key"]["code"] == "CLE_IDEMPOTENCE_INVALIDE"


# Acceptance ---------------------------------------------------------------------------------------


def test_accepted_at_once_then_dispatched_once(app, client, demo):
    """No partner runs in this test: the answer cannot depend on them, nor on Redis."""
    started = time.perf_counter()
    response = post(client, body(1, callback_url="https://appli.example/rappel"))
    elapsed = time.perf_counter() - started
    assert response.status_code == 202
    data = response.get_json()
    assert set(data) == {"id", "reference", "statut", "lien"}
    assert data["statut"] == "EN_COURS" and data["reference"] == "APP-000001"
    assert data["lien"] == f"/amendes/payments/{data['id']}/"
    assert response.headers["Location"] == data["lien"]
    assert elapsed < 2.0  # generous: a partner call would take far longer (and fail: none runs)
    queue = app.get_queue()
    assert queue.jobs == []  # the request only stores; a worker's dispatcher hands it to RQ
    with app.app_context():
        assert fines_jobs.dispatch() == 1
        assert fines_jobs.dispatch() == 0
    assert [job.args for job in queue.jobs] == [(data["id"],)]
    shown = client.get(data["lien"], headers=AUTH).get_json()
    assert shown["statut"] == "RECU" and shown["montant"] == body(1)["montant"]
    assert [a["numero"] for a in shown["amendes"]] == body(1)["amendes"]
    assert shown["etapes"][0]["etape"] == "RECU"


def test_get_only_own_organisation(app, client, demo):
    from backoffice.services.api_clients import create_client

    data = post(client, body(1)).get_json()
    with app.app_context():
        _, other_key, _ = create_client(None, demo["orgs"]["NEXT"], "Autre appli")
        db.session.commit()
    response = client.get(data["lien"], headers={"Authorization": f"Bearer {other_key}"})
    assert response.status_code == 404
    assert response.get_json()["erreur"] == "PAIEMENT_INCONNU"


# Duplicates ----------------------------------------------------------------------------------------


def test_same_reference_returns_the_same_payment(app, client, demo):
    first = post(client, body(1))
    again = post(client, body(1))
    assert first.status_code == 202 and again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(app) == 1
    with app.app_context():
        assert fines_jobs.dispatch() == 1
    assert len(app.get_queue().jobs) == 1


def test_accepted_while_redis_is_down_and_not_lost_by_a_failed_dispatch(app, client, demo, monkeypatch):
    """The answer never waits on Redis; a payment taken but not enqueued is the sweep's."""
    monkeypatch.setattr(app.get_queue(), "connection", Redis(port=1, socket_connect_timeout=0.2))  # nobody there
    response = post(client, body(1))
    assert response.status_code == 202
    with app.app_context():
        with pytest.raises(RedisConnectionError):
            fines_jobs.dispatch()
        assert dispatch.take_new_payments() == []
        # Overdue as soon as the sweep's grace has passed (here: none, and a clock a second ahead).
        assert dispatch.overdue_payments(grace_seconds=-1) == [response.get_json()["id"]]


def test_same_reference_different_body_is_409(app, client, demo):
    post(client, body(1))
    response = post(client, body(1, callback_url="https://autre.example/"))
    assert response.status_code == 409
    data = response.get_json()
    assert data["erreur"] == "CONFLIT_IDEMPOTENCE"
    assert "« APP-000001 » a déjà été utilisée pour une requête différente" in data["message"]
    assert _count(app) == 1


def test_idempotency_key(app, client, demo):
    key = {"Idempotency-Key": "cle-123"}
    first = post(client, body(1), headers=key)
    assert post(client, body(1), headers=key).get_json()["id"] == first.get_json()["id"]
    response = post(client, body(1, reference="APP-AUTRE"), headers=key)
    assert response.status_code == 409
    assert "clé d'idempotence « cle-123 »" in response.get_json()["message"]
    assert _count(app) == 1


def test_fine_already_being_paid_is_409_naming_it(app, client, demo):
    post(client, body(1))
    other = body(1, reference="APP-AUTRE")
    other["amendes"] = [other["amendes"][1]]
    response = post(client, other)
    assert response.status_code == 409
    data = response.get_json()
    assert data["erreur"] == "AMENDE_DEJA_EN_PAIEMENT"
    assert other["amendes"][0] in data["message"]
    assert data["amendes"] == [{"numero": other["amendes"][0], "reference": "APP-000001", "statut": "EN_COURS"}]
    # All or nothing: the refused claim (2nd INSERT of the one query) took the payment row
    # (1st) with it, and the timeline line (3rd) was never written.
    assert _count(app) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FinePaymentEvent)) == 1
        assert db.session.scalar(select(func.count()).select_from(FinePaymentItem)) == len(body(1)["amendes"])


def test_fine_paid_here_is_409_and_a_released_fine_is_free(app, client, demo):
    from backoffice.models.fines import PaymentStatus
    from backoffice.services.fines import states as fines_states

    first = post(client, body(1)).get_json()
    with app.app_context():
        payment = db.session.get(FinePayment, first["id"])
        payment.status = PaymentStatus.PAYE.value
        for item in payment.items:
            item.mark_outcome = "PAYEE"
        db.session.commit()
    response = post(client, body(1, reference="APP-2"))
    assert response.status_code == 409
    assert response.get_json()["erreur"] == "AMENDE_DEJA_PAYEE"
    with app.app_context():
        payment = db.session.get(FinePayment, first["id"])
        for item in payment.items:
            item.mark_outcome = None
        fines_states.release_claims(payment)
        db.session.commit()
    assert post(client, body(1, reference="APP-3")).status_code == 202


# Concurrency (PostgreSQL, real web process) -----------------------------------------------------


def _burst(url: str, payloads: list[dict], headers: dict) -> list[requests.Response]:
    barrier = threading.Barrier(len(payloads))
    results: list = [None] * len(payloads)

    def send(i: int) -> None:
        session = requests.Session()
        barrier.wait()
        results[i] = session.post(url, json=payloads[i], headers=headers, timeout=30)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.postgres_only
def test_50_concurrent_identical_requests_make_one_payment_and_one_debit(
    app, demo, live_server, start_process, partners
):
    from tests.support import wait_until, worker_env

    responses = _burst(f"{live_server}/amendes/payments/", [body(1)] * 50, AUTH)
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(202) == 1 and statuses.count(200) == 49, statuses
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(app) == 1
    payment_id = responses[0].json()["id"]
    start_process("worker", env=worker_env(partners))

    def done():
        with app.app_context():
            status = db.session.scalar(select(FinePayment.status).where(FinePayment.id == payment_id))
            db.session.remove()
            return status == "PAYE"

    wait_until(done, timeout=60, message="payment PAYE")
    debits = partners["momo"].stats()["debits"]
    assert list(debits) == [f"{payment_id}-debit"]
    assert debits[f"{payment_id}-debit"]["applied"] == 1


@pytest.mark.postgres_only
def test_50_concurrent_requests_for_the_same_fines_one_wins(app, demo, live_server):
    fines = body(1)["amendes"]
    # Half list the fines in the other order: claims still lock in one order (no deadlock).
    payloads = [body(1, reference=f"APP-C{i:02d}", amendes=fines if i % 2 else fines[::-1]) for i in range(50)]
    responses = _burst(f"{live_server}/amendes/payments/", payloads, AUTH)
    statuses = [r.status_code for r in responses]
    assert statuses.count(202) == 1 and statuses.count(409) == 49, statuses
    assert {r.json()["erreur"] for r in responses if r.status_code == 409} == {"AMENDE_DEJA_EN_PAIEMENT"}
    assert _count(app) == 1


# Lookup by the client's reference -----------------------------------------------------------


def test_payment_found_by_the_clients_reference(app, client, demo):
    from backoffice.services.api_clients import create_client

    created = post(client, body(1)).get_json()
    found = client.get("/amendes/payments/?reference=APP-000001", headers=AUTH)
    assert found.status_code == 200
    data = found.get_json()
    assert data["id"] == created["id"] and data["statut"] == "RECU" and data["etapes"][0]["etape"] == "RECU"
    missing = client.get("/amendes/payments/?reference=APP-999999", headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["erreur"] == "PAIEMENT_INCONNU"
    empty = client.get("/amendes/payments/?reference=", headers=AUTH)
    assert empty.status_code == 400 and empty.get_json()["erreur"] == "REFERENCE_OBLIGATOIRE"
    assert "reference" in empty.get_json()["message"]
    assert client.get("/amendes/payments/?reference=APP-000001").status_code == 401
    # Another organisation's client does not see it.
    with app.app_context():
        create_client(None, demo["orgs"]["CNSS"], "Autre appli", key="autre-cle-2026", secret="s" * 32)
        db.session.commit()
    foreign = client.get("/amendes/payments/?reference=APP-000001", headers={"Authorization": "Bearer autre-cle-2026"})
    assert foreign.status_code == 404
