"""Webhooks: endpoints through the API, events from the batches' timeline, signature, retries, the delivery log."""

from __future__ import annotations

import http.server
import io
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from backoffice import devservers
from backoffice.extensions import db
from backoffice.models.api import WebhookDelivery, WebhookEndpoint
from backoffice.services import webhooks
from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY, DEMO_BATCH_CLIENT_SECRET

AUTH = {"Authorization": f"Bearer {DEMO_BATCH_CLIENT_KEY}"}
CSV = b"type_id,valeur_id,devise,montant\nMSISDN,2290197000001,XOF,1000\n"


class Receiver:
    """An HTTP server on loopback that records what it receives and answers the codes it is given."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.codes: list[int] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = devservers.free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def _round(app) -> int:
    with app.app_context():
        try:
            return webhooks.run_round()
        finally:
            db.session.remove()


def _start_cursors(app) -> None:
    """The emitter starts at the present: make it look once before the events of the test."""
    _round(app)


def _upload(client, **fields):
    data = {"file": (io.BytesIO(CSV), "a.csv"), **fields}
    return client.post("/api/v1/batches", data=data, headers=AUTH, content_type="multipart/form-data")


def test_endpoints_are_managed_through_the_api(app, client, demo, receiver):
    created = client.post("/api/v1/webhooks", json={"url": receiver.url(), "description": "Paie"}, headers=AUTH)
    assert created.status_code == 201, created.get_json()
    endpoint_id = created.get_json()["id"]
    assert [w["url"] for w in client.get("/api/v1/webhooks", headers=AUTH).get_json()["webhooks"]] == [receiver.url()]
    tested = client.post(f"/api/v1/webhooks/{endpoint_id}/test", headers=AUTH)
    assert tested.status_code == 202 and tested.get_json()["statut"] == "EN_ATTENTE"
    _round(app)
    assert len(receiver.received) == 1 and json.loads(receiver.received[0]["body"])["type"] == "webhook.test"
    log = client.get("/api/v1/webhooks/deliveries", headers=AUTH).get_json()
    assert (
        log["total"] == 1 and log["livraisons"][0]["statut"] == "ENVOYE" and log["livraisons"][0]["dernier_code"] == 200
    )
    assert client.delete(f"/api/v1/webhooks/{endpoint_id}", headers=AUTH).status_code == 204
    assert client.get("/api/v1/webhooks", headers=AUTH).get_json()["webhooks"] == []
    assert client.delete(f"/api/v1/webhooks/{endpoint_id}", headers=AUTH).status_code == 404


def test_internal_addresses_are_refused_on_creation(app, client, demo, no_local_networks):
    """The one outgoing-URL rule (services/outgoing), as for the fines callbacks."""
    for url in (
        "http://example.org/hook",  # not https
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hook",
        "https://user:pw@8.8.8.8/hook",
        "pas une adresse",
    ):
        response = client.post("/api/v1/webhooks", json={"url": url}, headers=AUTH)
        assert response.status_code == 422, url
        error = response.get_json()["erreurs"][0]
        assert error["champ"] == "url" and error["message"].startswith("« url » "), error
    refused = client.post("/api/v1/webhooks", json={"url": "https://127.0.0.1/hook"}, headers=AUTH).get_json()
    assert "adresse interne" in refused["erreurs"][0]["message"]
    with app.app_context():
        assert webhooks.check_url(" https://8.8.8.8/hook ") == "https://8.8.8.8/hook"
        assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_an_address_that_turned_internal_is_refused_at_delivery(app, client, demo, receiver):
    """Accepted at registration, refused at connect time (as DNS rebinding would make it)."""
    created = client.post("/api/v1/webhooks", json={"url": receiver.url()}, headers=AUTH)
    assert created.status_code == 201
    client.post(f"/api/v1/webhooks/{created.get_json()['id']}/test", headers=AUTH)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(app.config, "OUTGOING_ALLOWED_NETWORKS", "")
        _round(app)
    assert receiver.received == []
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery.status == "EN_ATTENTE" and delivery.attempts == 1 and delivery.last_status_code is None
        assert delivery.last_error.startswith("adresse refusée")


def test_an_endpoint_receives_only_the_events_it_chose(app, client, demo, receiver):
    chosen = client.post(
        "/api/v1/webhooks", json={"url": receiver.url("/fin"), "evenements": ["batch.completed"]}, headers=AUTH
    )
    assert chosen.status_code == 201 and chosen.get_json()["evenements"] == ["batch.completed"]
    every = client.post("/api/v1/webhooks", json={"url": receiver.url("/tout")}, headers=AUTH).get_json()
    assert every["evenements"] == list(webhooks.SUBSCRIBABLE_EVENTS)
    unknown = client.post("/api/v1/webhooks", json={"url": receiver.url(), "evenements": ["batch.paid"]}, headers=AUTH)
    assert unknown.status_code == 422 and unknown.get_json()["erreurs"][0]["champ"] == "evenements.0"
    _start_cursors(app)
    batch_id = _upload(client).get_json()["id"]
    client.post(f"/api/v1/batches/{batch_id}/submit", json={}, headers=AUTH)
    _round(app)
    assert [r["path"] for r in receiver.received] == ["/tout"]


def test_batch_events_reach_the_endpoint_and_the_callback_signed(app, client, demo, receiver):
    client.post("/api/v1/webhooks", json={"url": receiver.url("/org")}, headers=AUTH)
    _start_cursors(app)
    batch_id = _upload(client, callback_url=receiver.url("/lot")).get_json()["id"]
    client.post(f"/api/v1/batches/{batch_id}/submit", json={}, headers=AUTH)
    _round(app)
    assert sorted(r["path"] for r in receiver.received) == ["/lot", "/org"]
    ids = {r["headers"]["X-Event-Id"] for r in receiver.received}
    assert len(ids) == 1  # one event, the same id at every address
    for request in receiver.received:
        assert webhooks.verify_signature(DEMO_BATCH_CLIENT_SECRET, request["body"], request["headers"]["X-Signature"])
        assert not webhooks.verify_signature("another-secret", request["body"], request["headers"]["X-Signature"])
        event = json.loads(request["body"])
        assert event["type"] == "batch.submitted" and event["donnees"]["lot"]["id"] == batch_id
        assert request["headers"]["X-Event-Type"] == "batch.submitted"
    assert _round(app) == 0  # nothing twice


def test_failures_are_retried_with_backoff_then_given_up_and_resent(app, client, demo, receiver, login_as):
    client.post("/api/v1/webhooks", json={"url": receiver.url()}, headers=AUTH)
    endpoint_id = client.get("/api/v1/webhooks", headers=AUTH).get_json()["webhooks"][0]["id"]
    receiver.codes = [500, 503]
    client.post(f"/api/v1/webhooks/{endpoint_id}/test", headers=AUTH)
    _round(app)
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery.status == "EN_ATTENTE" and delivery.attempts == 1 and delivery.last_status_code == 500
        first_wait = delivery.next_attempt_at - delivery.last_attempt_at
        assert timedelta(seconds=4) <= first_wait <= timedelta(seconds=6)  # WEBHOOK_BACKOFF_BASE_SECONDS
        db.session.execute(update(WebhookDelivery).values(next_attempt_at=delivery.last_attempt_at))
        db.session.commit()
    _round(app)
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery.attempts == 2 and delivery.last_status_code == 503
        second_wait = delivery.next_attempt_at - delivery.last_attempt_at
        assert second_wait >= 2 * first_wait - timedelta(seconds=1)  # doubles
        # Past the retry window the next failure gives up.
        db.session.execute(
            update(WebhookDelivery).values(
                created_at=delivery.created_at - timedelta(hours=24), next_attempt_at=delivery.last_attempt_at
            )
        )
        db.session.commit()
    receiver.codes = [500]
    _round(app)
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery.status == "ABANDONNE" and delivery.attempts == 3 and delivery.next_attempt_at is None
        delivery_id = delivery.id

    admin = login_as("admin@demo.bj")
    page = admin.get("/amendes/clients-api/webhooks").get_data(as_text=True)
    assert "Abandonné" in page and "HTTP 500" in page and "Renvoyer" in page
    admin.post(f"/amendes/clients-api/livraisons/{delivery_id}/renvoyer")
    _round(app)
    with app.app_context():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        assert delivery.status == "ENVOYE" and delivery.attempts == 4
    assert len(receiver.received) == 4
    assert len({r["headers"]["X-Event-Id"] for r in receiver.received}) == 1


def test_signature_format_and_verification(app):
    header = webhooks.signature_header("s3cret", b'{"a":1}', timestamp=1700000000)
    t, v1 = header.split(",")
    assert t == "t=1700000000" and v1.startswith("v1=") and len(v1) == 3 + 64
    import hashlib
    import hmac

    assert v1[3:] == hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert not webhooks.verify_signature("s3cret", b'{"a":1}', header)  # too old
    fresh = webhooks.signature_header("s3cret", b"{}")
    assert webhooks.verify_signature("s3cret", b"{}", fresh)
    assert not webhooks.verify_signature("s3cret", b"{ }", fresh)
    assert not webhooks.verify_signature("s3cret", b"{}", "garbage")


def test_a_fines_payment_reaching_a_final_status_is_one_event(app, client, demo, receiver):
    from backoffice.models.fines import FinePayment
    from backoffice.services.fines.states import add_event
    from tests.factories import _fine_payment

    client.post("/api/v1/webhooks", json={"url": receiver.url("/amendes")}, headers=AUTH)
    _start_cursors(app)
    with app.app_context():
        payment = db.session.get(FinePayment, _fine_payment(demo))
        db.session.commit()
        payment.status = "PAYE"
        add_event(payment, "PAYE", "Payé.")
        add_event(payment, "RAPPEL", "Notification envoyée.")  # the timeline repeats the final status
        db.session.commit()
        payment_id = payment.id
    _round(app)
    assert len(receiver.received) == 1
    event = json.loads(receiver.received[0]["body"])
    assert event["type"] == "fine_payment.final" and event["donnees"]["paiement"]["id"] == payment_id
    assert event["donnees"]["paiement"]["statut"] == "PAYE"


def test_two_workers_making_a_cursor_at_once_share_the_first_one(app, monkeypatch):
    """On a fresh start every worker's delivery loop makes the cursors: the one that comes
    second finds the first one's cursor instead of failing its round."""
    from backoffice.models.api import WebhookCursor
    from backoffice.models.batches import BatchEvent

    with app.app_context():
        db.session.add(WebhookCursor(name="batch_events", last_id=41))  # the other worker's
        db.session.commit()
        real_get = db.session.get
        calls = {"n": 0}

        def get_after_the_other_worker(model, key, **kwargs):
            calls["n"] += 1
            if calls["n"] == 1:  # our read came just before the other worker's insert
                return None
            return real_get(model, key, **kwargs)

        monkeypatch.setattr(db.session, "get", get_after_the_other_worker)
        cursor = webhooks._cursor("batch_events", BatchEvent.id)
        assert (cursor.name, cursor.last_id) == ("batch_events", 41)
        monkeypatch.undo()
        assert db.session.scalar(select(func.count()).select_from(WebhookCursor)) == 1
