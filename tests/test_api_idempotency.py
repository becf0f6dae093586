"""Idempotency-Key on the API's POSTs: same key and body → same answer; another body → 409; 50 at once → one batch."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import requests
from sqlalchemy import func, select, update

from backoffice.extensions import db
from backoffice.models.api import IdempotencyRecord
from backoffice.models.batches import Batch
from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY

AUTH = {"Authorization": f"Bearer {DEMO_BATCH_CLIENT_KEY}"}
LINES = {"lignes": [{"type_id": "MSISDN", "valeur_id": "2290197000001", "montant": 1000}]}


def _batches(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Batch))


def test_same_key_and_body_replay_the_answer(app, client, demo):
    headers = {**AUTH, "Idempotency-Key": "paie-2026-03"}
    first = client.post("/api/v1/batches", json=LINES, headers=headers)
    assert first.status_code == 201
    again = client.post("/api/v1/batches", json={**LINES}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert _batches(app) == 1


def test_same_key_with_another_body_is_409(app, client, demo):
    headers = {**AUTH, "Idempotency-Key": "k-1"}
    assert client.post("/api/v1/batches", json=LINES, headers=headers).status_code == 201
    other = {"lignes": [{"type_id": "MSISDN", "valeur_id": "2290197000002", "montant": 1000}]}
    response = client.post("/api/v1/batches", json=other, headers=headers)
    assert response.status_code == 409 and response.get_json()["erreur"] == "CONFLIT_IDEMPOTENCE"
    assert _batches(app) == 1


def test_multipart_replay_ignores_the_boundary_and_keys_are_per_client(app, client, demo):
    content = b"type_id,valeur_id,devise,montant\nMSISDN,2290197000001,XOF,1000\n"
    headers = {**AUTH, "Idempotency-Key": "fichier-1"}

    def post(boundary: str):
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="libelle"\r\n\r\nMars\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
                f"Content-Type: text/csv\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return client.post(
            "/api/v1/batches",
            data=body,
            headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )

    first, second = post("aaaa1111"), post("bbbb2222")
    assert first.status_code == 201 and second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true" and second.get_json()["id"] == first.get_json()["id"]
    fines = client.post(
        "/api/v1/batches",
        data={"file": (io.BytesIO(content), "a.csv")},
        headers={"Authorization": "Bearer demo-amendes-2026", "Idempotency-Key": "fichier-1"},
        content_type="multipart/form-data",
    )
    assert fines.status_code == 403  # another client: its own keys (and here no scope)
    assert _batches(app) == 1


def test_refusals_are_replayed_too_and_keys_expire(app, client, demo):
    headers = {**AUTH, "Idempotency-Key": "vide"}
    refused = client.post("/api/v1/batches", json={"lignes": []}, headers=headers)
    assert refused.status_code == 422
    replay = client.post("/api/v1/batches", json={"lignes": []}, headers=headers)
    assert replay.status_code == 422 and replay.headers["Idempotent-Replayed"] == "true"
    headers = {**AUTH, "Idempotency-Key": "ancienne"}
    assert client.post("/api/v1/batches", json=LINES, headers=headers).status_code == 201
    with app.app_context():
        db.session.execute(
            update(IdempotencyRecord).values(created_at=IdempotencyRecord.created_at - timedelta(hours=25))
        )
        db.session.commit()
    later = client.post("/api/v1/batches", json=LINES, headers=headers)
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert _batches(app) == 2
    bad = client.post("/api/v1/batches", json=LINES, headers={**AUTH, "Idempotency-Key": "a b"})
    assert bad.status_code == 422 and bad.get_json()["erreurs"][0]["champ"] == "Idempotency-Key"


def test_fifty_concurrent_posts_with_one_key_make_one_batch(app, demo, live_server):
    """Real server process, real threads; on PostgreSQL the unique index decides under true concurrency."""
    barrier = threading.Barrier(50)
    answers: list[tuple[int, dict, dict]] = []
    lock = threading.Lock()

    def post() -> None:
        barrier.wait()
        response = requests.post(
            f"{live_server}/api/v1/batches",
            json=LINES,
            headers={**AUTH, "Idempotency-Key": "course-50"},
            timeout=60,
        )
        with lock:
            answers.append((response.status_code, response.json(), dict(response.headers)))

    threads = [threading.Thread(target=post) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(code for code, _body, _h in answers)
    assert len(answers) == 50 and set(codes) <= {201, 409}, codes
    created = [body for code, body, headers in answers if code == 201 and "Idempotent-Replayed" not in headers]
    assert len(created) == 1
    busy = [body for code, body, _h in answers if code == 409]
    assert all(b["erreur"] == "REQUETE_EN_COURS" for b in busy)
    assert _batches(app) == 1
    replay = requests.post(
        f"{live_server}/api/v1/batches", json=LINES, headers={**AUTH, "Idempotency-Key": "course-50"}, timeout=30
    )
    assert replay.status_code == 201 and replay.json()["id"] == created[0]["id"]


def test_a_multipart_part_without_a_usable_name_is_not_a_5xx(app, client, demo):
    """Found by the fuzzer: werkzeug names a part without a name None, which broke the fingerprint's sort."""
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\n[]\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="None"\r\n\r\n[1]\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="libelle"\r\n\r\nz\r\n--{boundary}--\r\n'
    ).encode()
    response = client.post(
        "/api/v1/batches",
        data=body,
        headers={**AUTH, "Idempotency-Key": "k", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 422
