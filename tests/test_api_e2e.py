"""End to end through the API: create → submit → approve in the back-office → the event stream ends with
`done` → the signed webhooks arrive. A real server process, a real worker and the Mojaloop simulator."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from backoffice.services import webhooks
from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY, DEMO_BATCH_CLIENT_SECRET
from tests.support import wait_until
from tests.test_api_webhooks import Receiver, _start_cursors

pytestmark = [pytest.mark.slow]

AUTH = {"Authorization": f"Bearer {DEMO_BATCH_CLIENT_KEY}"}
WORKER_ENV = {
    "BATCH_CHUNK_SIZE": "10",
    "BATCH_CONCURRENCY": "4",
    "BATCH_FLUSH_ROWS": "5",
    "BATCH_FLUSH_SECONDS": "0.3",
    "BATCH_SWEEP_SECONDS": "1",
    "WEBHOOK_DELIVERY_SECONDS": "0.3",
    "MOJALOOP_TIMEOUT_SECONDS": "5",
}


def read_events(url: str, headers: dict, out: list[dict], timeout: float = 120) -> None:
    """Read a Server-Sent Events stream into `out` until it closes."""
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        event: dict = {}
        for line in response.iter_lines(decode_unicode=True):
            if line == "":
                if event:
                    out.append(event)
                event = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                event[name] = value


def test_api_batch_paid_end_to_end_with_stream_and_webhooks(app, demo, sim, live_server, start_process, login_as):
    receiver = Receiver()
    try:
        _start_cursors(app)  # the emitter reads events from now on (a worker may still be starting)
        start_process("worker", env={**WORKER_ENV, "MOJALOOP_SDK_URL": sim.url})
        assert (
            requests.post(
                f"{live_server}/api/v1/webhooks", json={"url": receiver.url("/org")}, headers=AUTH, timeout=10
            ).status_code
            == 201
        )
        lignes = [
            {"type_id": "MSISDN", "valeur_id": f"2299700{n:04d}", "montant": 1000 + n, "nom_complet": f"P{n}"}
            for n in range(1, 12)
        ] + [{"type_id": "MSISDN", "valeur_id": "22997000404", "montant": 500}]
        created = requests.post(
            f"{live_server}/api/v1/batches",
            json={
                "lignes": lignes,
                "libelle": "Pensions API",
                "periode": "2026-03",
                "callback_url": receiver.url("/lot"),
            },
            headers={**AUTH, "Idempotency-Key": "e2e-1"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        batch_id = created.json()["id"]
        submitted = requests.post(f"{live_server}/api/v1/batches/{batch_id}/submit", json={}, headers=AUTH, timeout=10)
        assert submitted.status_code == 200 and submitted.json()["statut"] == "PENDING_APPROVAL"

        events: list[dict] = []
        reader = threading.Thread(
            target=read_events, args=(f"{live_server}/api/v1/batches/{batch_id}/events", AUTH, events)
        )
        reader.start()
        wait_until(lambda: events, timeout=30, message="a first progress event")

        approver = login_as("gestionnaire2@cnss.bj")  # a person, in the back-office
        approved = approver.post(f"/batches/{batch_id}/approve")
        assert approved.status_code in (200, 302)

        reader.join(timeout=120)
        assert not reader.is_alive(), events[-3:]
        assert events[-1]["event"] == "done" and events[-1]["id"] == "done"
        final = json.loads(events[-1]["data"])
        assert final["statut"] == "PARTIALLY_COMPLETED" and final["progress_percent"] == 100
        assert final["compteurs"] == {"COMPLETED": 11, "FAILED": 1}
        assert all(e["event"] == "progress" for e in events[:-1])

        status = requests.get(f"{live_server}/api/v1/batches/{batch_id}/status", headers=AUTH, timeout=10).json()
        assert status["termine"] and status["traitees"] == 12
        failed = requests.get(
            f"{live_server}/api/v1/batches/{batch_id}/rows?statut=FAILED", headers=AUTH, timeout=10
        ).json()
        assert failed["lignes"][0]["code_erreur"] == "3204" and failed["lignes"][0]["ligne"] == 12

        resumed = requests.get(
            f"{live_server}/api/v1/batches/{batch_id}/events", headers={**AUTH, "Last-Event-ID": "done"}, timeout=10
        )
        assert resumed.status_code == 204  # EventSource stops

        def completed_deliveries():
            return [r for r in receiver.received if json.loads(r["body"])["type"] == "batch.completed"]

        arrived = wait_until(
            lambda: len(completed_deliveries()) == 2 and completed_deliveries(),
            timeout=60,
            message="batch.completed at both addresses",
        )
        assert sorted(r["path"] for r in arrived) == ["/lot", "/org"]
        for request in arrived:
            assert webhooks.verify_signature(
                DEMO_BATCH_CLIENT_SECRET, request["body"], request["headers"]["X-Signature"]
            )
            data = json.loads(request["body"])["donnees"]
            assert data["compteurs"]["payees"] == 11 and data["compteurs"]["echouees"] == 1
            assert data["montants"]["paye"] == sum(1000 + n for n in range(1, 12)) and data["montants"]["echoue"] == 500
        types = sorted({json.loads(r["body"])["type"] for r in receiver.received})
        assert types == ["batch.approved", "batch.completed", "batch.submitted"]
    finally:
        receiver.stop()
