"""Client-given URLs (fines callbacks) cannot reach our own network (finding 3: SSRF)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.factories import body
from tests.support import post


class _Receiver(BaseHTTPRequestHandler):
    hits: list[str] = []
    status = 200
    location = ""

    def do_POST(self):  # noqa: N802 - http.server API
        type(self).hits.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(type(self).status)
        if type(self).location:
            self.send_header("Location", type(self).location)
        self.end_headers()
        self.wfile.write(b"secret internal reply")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.hits, _Receiver.status, _Receiver.location = [], 200, ""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()


def _deliver(app, url: str) -> bool:
    from backoffice.services import outgoing

    with app.app_context():
        return outgoing.deliver(url, b"{}", {"Content-Type": "application/json"}, 2.0)


def test_a_local_receiver_is_reached_only_when_its_network_is_allowed(app, receiver, no_local_networks):
    url = f"http://127.0.0.1:{receiver}/rappel"
    assert _deliver(app, url) is False and _Receiver.hits == []
    app.config["OUTGOING_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    assert _deliver(app, url) is True and _Receiver.hits == ["/rappel"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"],
)
def test_loopback_in_every_spelling_is_refused(app, receiver, no_local_networks, host):
    assert _deliver(app, f"https://{host}:{receiver}/x") is False
    assert _deliver(app, f"http://{host}:{receiver}/x") is False
    assert _Receiver.hits == []


@pytest.mark.parametrize("ip", ["10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "224.0.0.1", "240.0.0.1"])
def test_private_link_local_multicast_and_reserved_addresses_are_refused(app, ip):
    import ipaddress

    from backoffice.services import outgoing

    with app.app_context():
        assert outgoing.address_allowed(ipaddress.ip_address(ip), "https") is False
        assert outgoing.address_allowed(ipaddress.ip_address("93.184.216.34"), "https") is True
        assert outgoing.address_allowed(ipaddress.ip_address("93.184.216.34"), "http") is False


def test_redirects_are_not_followed(app, receiver):
    _Receiver.status, _Receiver.location = 307, "http://127.0.0.1:1/ailleurs"
    assert _deliver(app, f"http://127.0.0.1:{receiver}/rappel") is False
    assert _Receiver.hits == ["/rappel"]


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pass@appli.example/",
        "https://@appli.example/",
        "ftp://appli.example/",
        "https://appli.example:99999/",
    ],
)
def test_bad_callback_urls_are_refused_at_submission(client, demo, url):
    response = post(client, body(1, callback_url=url))
    assert response.status_code == 422
    assert response.get_json()["erreurs"][0]["champ"] == "callback_url"


def test_production_wants_https(app, client, demo, no_local_networks):
    app.config["APP_ENV"] = "production"
    try:
        response = post(client, body(1, callback_url="http://appli.example/rappel"))
        assert response.status_code == 422 and "https" in response.get_json()["erreurs"][0]["message"]
    finally:
        app.config["APP_ENV"] = "testing"


def test_the_client_reads_back_delivered_or_not_and_nothing_of_the_reply(app, client, demo, receiver):
    from backoffice.extensions import db
    from backoffice.models.fines import FinePayment
    from backoffice.services.fines import callbacks

    payment_id = post(client, body(1, callback_url=f"http://127.0.0.1:{receiver}/rappel")).get_json()["id"]
    with app.app_context():
        payment = db.session.get(FinePayment, payment_id)
        payment.status, payment.callback_status = "PAYE", "EN_ATTENTE"
        db.session.commit()
        _Receiver.status = 500
        callbacks.send_callback(payment_id)
        db.session.remove()
    seen = client.get(f"/amendes/payments/{payment_id}/", headers={"Authorization": "Bearer demo-amendes-2026"})
    text = seen.get_data(as_text=True)
    assert "secret internal reply" not in text and '"http"' not in text
    assert '"livre":false' in text.replace(" ", "")


def test_post_gives_the_status_code_or_why_nothing_was_answered(app, receiver, no_local_networks):
    """What webhooks record (last code or reason), under the same connect-time rule."""
    from backoffice.services import outgoing

    url = f"http://127.0.0.1:{receiver}/hook"
    with app.app_context():
        assert outgoing.post(url, b"{}", {}, 2.0) == (None, outgoing.REFUSED)
        app.config["OUTGOING_ALLOWED_NETWORKS"] = "127.0.0.0/8"
        _Receiver.status = 503
        assert outgoing.post(url, b"{}", {}, 2.0) == (503, None)
    assert _Receiver.hits == ["/hook"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://127.0.0.1/x", "mène à une adresse interne"),
        ("https://localhost/x", "mène à une adresse interne"),
        ("https://[::ffff:10.0.0.1]/x", "mène à une adresse interne"),
        ("http://8.8.8.8/x", "doit être une adresse https"),
        ("https://user@8.8.8.8/x", "ne doit pas contenir d'identifiants"),
        ("https://8.8.8.8/x", None),
    ],
)
def test_destination_problem_applies_the_address_rule_at_registration(app, no_local_networks, url, problem):
    from backoffice.services import outgoing

    with app.app_context():
        found = outgoing.destination_problem(url, production=False)
    assert (found or "").startswith(problem or "") and (found is None) == (problem is None)
