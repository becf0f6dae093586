"""A Mojaloop SDK scheme adapter simulator: the outbound calls we use, with faults on demand.

Implements POST /transfers, PUT /transfers/{id} (acceptParty / acceptQuote),
GET /transfers/{id} and GET /parties/{type}/{id} with the adapter's response shapes
(see docs/partners/mojaloop-sdk.md), plus an admin API for tests and benchmarks:

- GET  /__admin/stats   how often each homeTransactionId / transferId reached us, commits
- POST /__admin/config  change settings (JSON, partial)
- POST /__admin/reset   forget every transfer and counter
- POST /__admin/outage  {"ms": N, "mode": "refuse" | "drop"}: for N ms, refuse connections
  (nothing listens: ECONNREFUSED, the request never leaves the client) or read requests and
  close the connection without an answer (the outcome is unknown to the client)

Faults are chosen by the payee identifier's suffix (deterministic, for tests) or at random
rates (benchmarks): party not found (3204, HTTP 500 like the real adapter), payee rejection
(5104), a 504 after which the transfer still commits, a 504 after which it never existed
(the status check answers 404, so the row is resent with the same transferId), and a hang
longer than the client's timeout (the transfer commits; also at random, `hang_rate`).
Connections can be refused at random (`refuse_rate`: after that share of new connections,
nothing listens for `refuse_ms`) and keep-alive connections closed at random (`close_rate`,
so that clients reconnect, as behind a load balancer). A second POST with a transferId
we already hold is refused (3106), as the switch refuses duplicates.

It is a `ThreadingHTTPServer` (HTTP/1.1 keep-alive, one thread per connection, TCP_NODELAY,
a listen backlog of 512), which sustains over a thousand transfers/s at 50 ms latency on two
cores.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import select
import socket
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click

from backoffice.services.money import CURRENCIES, from_mojaloop_amount

DEFAULT_SETTINGS: dict[str, Any] = {
    "latency_ms": 0,  # added to every call
    "auto_accept": True,  # False: stop at WAITING_FOR_PARTY_ACCEPTANCE / QUOTE_ACCEPTANCE
    "fee": "0",  # payeeFspFee per transfer, a Mojaloop amount string in the transfer's currency
    "fsp_id": "",  # payee FSP id; empty = derived from the identifier
    # Deterministic faults by payee identifier suffix
    "not_found_suffixes": ["0404"],  # 3204 Party not found
    "reject_suffixes": ["0500"],  # 5104 payee rejected the transaction
    "timeout_suffixes": ["0504"],  # 504, the transfer still commits
    "drop_suffixes": ["0408"],  # 504, the transfer never existed (status → 404)
    "hang_suffixes": ["0499"],  # answer after hang_ms (longer than the client timeout); commits
    "hang_ms": 3000,
    "commit_delay_ms": 0,  # after a 504, the status says RESERVED for this long, then COMMITTED
    # Random faults (benchmarks), 0..1
    "not_found_rate": 0.0,
    "reject_rate": 0.0,
    "timeout_rate": 0.0,
    "hang_rate": 0.0,  # share of transfers that answer after hang_ms (then commit)
    "refuse_rate": 0.0,  # after this share of new connections, refuse connections for refuse_ms
    "refuse_ms": 20,
    "close_rate": 0.0,  # share of answers sent with "Connection: close" (the client reconnects)
    "seed": None,
    # GET /parties: registered names (identifier → name; others get a generated name),
    # lookups answered 504 a few times before the party is found, and lookups always 504.
    "party_names": {},
    "party_flaky_suffixes": ["0594"],
    "party_flaky_failures": 2,
    "party_error_suffixes": ["0598"],
}

_TRANSFER_PATH = re.compile(r"^/transfers/([^/]+)$")
_PARTY_PATH = re.compile(r"^/parties/([^/]+)/([^/]+)$")

FIRST_NAMES = ["Koffi", "Aïcha", "Rémi", "Fatou", "Mariam", "Sèna", "Ousmane", "Adjoa", "Éric", "Nafissatou"]
LAST_NAMES = ["Agossou", "Dossou", "Houngbédji", "Diallo", "Kouassi", "Sow", "Adébayo", "Zinsou", "Traoré"]
FSP_IDS = ["mtn-bj", "moov-bj", "celtiis-bj"]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _party_for(id_type: str, id_value: str, fsp_id: str) -> dict:
    digest = int(hashlib.sha256(id_value.encode()).hexdigest(), 16)
    first = FIRST_NAMES[digest % len(FIRST_NAMES)]
    last = LAST_NAMES[(digest // 7) % len(LAST_NAMES)]
    return {
        "partyIdInfo": {
            "partyIdType": id_type,
            "partyIdentifier": id_value,
            "fspId": fsp_id or FSP_IDS[(digest // 13) % len(FSP_IDS)],
        },
        "name": f"{first} {last}",
        "personalInfo": {"complexName": {"firstName": first, "lastName": last}},
    }


class SimulatorState:
    """Transfers and counters, shared by the server's threads under one lock."""

    def __init__(self, settings: dict | None = None) -> None:
        self.lock = threading.Lock()
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.transfers: dict[str, dict] = {}
            self.home_hits: Counter[str] = Counter()
            self.posts: Counter[str] = Counter()
            self.commits: Counter[str] = Counter()
            self.status_checks: Counter[str] = Counter()
            self.duplicates_refused = 0
            self.connections = 0
            self.refusal_windows = 0
            self.refuse_until = 0.0  # monotonic time: nothing listens before it
            self.drop_until = 0.0  # monotonic time: requests are read and dropped before it
            self.dropped: set[str] = set()  # transferIds answered 504 and never kept
            self.party_lookups: Counter[str] = Counter()
            self.random = random.Random(self.settings.get("seed"))

    def configure(self, changes: dict) -> dict:
        with self.lock:
            unknown = set(changes) - set(DEFAULT_SETTINGS)
            if unknown:
                raise ValueError(f"unknown settings: {sorted(unknown)}")
            self.settings.update(changes)
            if "seed" in changes:
                self.random = random.Random(changes["seed"])
            return dict(self.settings)

    def fault_for(self, id_value: str) -> str | None:
        """Which fault (if any) this payee identifier triggers."""
        s = self.settings
        for fault, key in (
            ("not_found", "not_found_suffixes"),
            ("reject", "reject_suffixes"),
            ("timeout", "timeout_suffixes"),
            ("drop", "drop_suffixes"),
            ("hang", "hang_suffixes"),
        ):
            if any(id_value.endswith(suffix) for suffix in s.get(key) or []):
                return fault
        draw = self.random.random()
        for fault, key in (
            ("not_found", "not_found_rate"),
            ("reject", "reject_rate"),
            ("timeout", "timeout_rate"),
            ("hang", "hang_rate"),
        ):
            rate = float(s.get(key) or 0)
            if draw < rate:
                return fault
            draw -= rate
        return None

    def stats(self) -> dict:
        with self.lock:
            states = Counter(t["state"] for t in self.transfers.values())
            faults = Counter(t["fault"] for t in self.transfers.values() if t["fault"])
            return {
                "home_hits": dict(self.home_hits),
                "posts": dict(self.posts),
                "commits": dict(self.commits),
                "status_checks": dict(self.status_checks),
                "party_lookups": dict(self.party_lookups),
                "totals": {
                    "posts": sum(self.posts.values()),
                    "commits": sum(self.commits.values()),
                    "status_checks": sum(self.status_checks.values()),
                    "duplicates_refused": self.duplicates_refused,
                    "connections": self.connections,
                    "refusal_windows": self.refusal_windows,
                    "transfers_by_state": dict(states),
                    "transfers_by_fault": dict(faults),
                },
            }


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's pooled connections are reused
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle plus the client's
    # delayed ACK add ~40 ms to every answer.
    disable_nagle_algorithm = True
    state: SimulatorState  # set on the subclass built by make_server()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    # --- plumbing --------------------------------------------------------------------

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        if time.monotonic() < self.state.drop_until and not self.path.startswith("/__admin"):
            self.close_connection = True  # read, never answered: the client cannot know
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        close_rate = float(self.state.settings.get("close_rate") or 0)
        if close_rate and self.state.random.random() < close_rate:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _latency(self) -> None:
        latency = float(self.state.settings.get("latency_ms") or 0)
        if latency > 0:
            time.sleep(latency / 1000)

    # --- routes ----------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/__admin/stats":
            return self._send(200, self.state.stats())
        if self.path == "/__admin/config":
            return self._send(200, self.state.settings)
        if self.path in ("/", "/health"):
            return self._send(200, {"status": "ok"})
        match = _TRANSFER_PATH.match(self.path)
        if match:
            self._latency()
            return self._get_transfer(match.group(1))
        match = _PARTY_PATH.match(self.path)
        if match:
            self._latency()
            return self._get_party(match.group(1), match.group(2))
        self._send(404, {"message": "Not found"})

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        if self.path == "/__admin/reset":
            self.state.reset()
            return self._send(200, {"reset": True})
        if self.path == "/__admin/config":
            try:
                return self._send(200, self.state.configure(body))
            except ValueError as exc:
                return self._send(400, {"message": str(exc)})
        if self.path == "/__admin/outage":
            until = time.monotonic() + float(body.get("ms") or 0) / 1000
            if body.get("mode") == "drop":
                self.state.drop_until = until
            else:
                self.state.refuse_until = until
            return self._send(200, {"outage": body})
        if self.path == "/transfers":
            self._latency()
            return self._post_transfer(body)
        self._send(404, {"message": "Not found"})

    def do_PUT(self) -> None:  # noqa: N802
        body = self._body()
        match = _TRANSFER_PATH.match(self.path)
        if not match:
            return self._send(404, {"message": "Not found"})
        self._latency()
        self._put_transfer(match.group(1), body)

    # --- the adapter's behaviour -----------------------------------------------------

    def _post_transfer(self, body: dict) -> None:
        st = self.state
        problem = _validate(body)
        if problem:
            return self._send(400, {"statusCode": "400", "message": problem})
        transfer_id = str(body.get("transferId") or uuid.uuid4())
        home = str(body["homeTransactionId"])
        payee = body["to"]
        fault = st.fault_for(str(payee["idValue"]))
        with st.lock:
            if fault == "drop" and transfer_id in st.dropped:
                fault = None  # the resend of a dropped transfer goes through
            st.home_hits[home] += 1
            st.posts[transfer_id] += 1
            if transfer_id in st.transfers:
                # The switch refuses a second transfer with the same id.
                st.duplicates_refused += 1
                return self._send(
                    500, _error_body(body, transfer_id, "3106", "Modified request - duplicate transferId")
                )
            record = {
                "request": body,
                "transferId": transfer_id,
                "state": "RECEIVED",
                "fault": fault,
                "party": _party_for(payee["idType"], str(payee["idValue"]), st.settings.get("fsp_id") or ""),
                "commit_at": None,
            }
            if fault == "drop":
                st.dropped.add(transfer_id)
            else:
                st.transfers[transfer_id] = record
        if fault == "not_found":
            self._forget(transfer_id, "ABORTED")
            return self._send(500, _error_body(body, transfer_id, "3204", "Party not found"))
        if fault == "drop":
            return self._send(504, {"message": "Timeout waiting for the switch", "statusCode": "504"})
        if not st.settings.get("auto_accept", True):
            record["state"] = "WAITING_FOR_PARTY_ACCEPTANCE"
            return self._send(200, self._response(record, "WAITING_FOR_PARTY_ACCEPTANCE"))
        self._finish(record)

    def _put_transfer(self, transfer_id: str, body: dict) -> None:
        st = self.state
        with st.lock:
            record = st.transfers.get(transfer_id)
        if record is None:
            return self._send(404, {"statusCode": "3208", "message": "Transfer ID not found"})
        if record["state"] == "WAITING_FOR_PARTY_ACCEPTANCE" and body.get("acceptParty") is True:
            record["state"] = "WAITING_FOR_QUOTE_ACCEPTANCE"
            return self._send(200, self._response(record, "WAITING_FOR_QUOTE_ACCEPTANCE"))
        if record["state"] == "WAITING_FOR_QUOTE_ACCEPTANCE" and body.get("acceptQuote") is True:
            return self._finish(record)
        if body.get("acceptParty") is False or body.get("acceptQuote") is False:
            self._forget(transfer_id, "ABORTED")
            return self._send(
                500, _error_body(record["request"], transfer_id, "5101", "Payee transaction was not accepted")
            )
        return self._send(500, _error_body(record["request"], transfer_id, "3000", "Unexpected transfer state"))

    def _finish(self, record: dict) -> None:
        """The quote is accepted: commit, reject, or commit behind a 504 / a hang."""
        st = self.state
        fault = record["fault"]
        transfer_id = record["transferId"]
        if fault == "reject":
            self._forget(transfer_id, "ABORTED")
            return self._send(
                500, _error_body(record["request"], transfer_id, "5104", "Payee rejected the financial transaction")
            )
        if fault == "timeout":
            delay = float(st.settings.get("commit_delay_ms") or 0) / 1000
            with st.lock:
                record["state"] = "RESERVED"
                record["commit_at"] = time.monotonic() + delay
                if delay <= 0:
                    self._commit(record)
            return self._send(504, {"message": "Timeout waiting for the switch", "statusCode": "504"})
        if fault == "hang":
            time.sleep(float(st.settings.get("hang_ms") or 0) / 1000)
        with st.lock:
            self._commit(record)
        self._send(200, self._response(record, "COMPLETED"))

    def _commit(self, record: dict) -> None:
        """Mark a transfer COMMITTED (caller holds the lock)."""
        if record["state"] != "COMMITTED":
            record["state"] = "COMMITTED"
            record["completed"] = _now()
            self.state.commits[record["transferId"]] += 1

    def _forget(self, transfer_id: str, final_state: str) -> None:
        with self.state.lock:
            record = self.state.transfers.get(transfer_id)
            if record is not None:
                record["state"] = final_state

    def _get_transfer(self, transfer_id: str) -> None:
        st = self.state
        with st.lock:
            st.status_checks[transfer_id] += 1
            record = st.transfers.get(transfer_id)
            if record is not None and record["state"] == "RESERVED" and time.monotonic() >= (record["commit_at"] or 0):
                self._commit(record)
            state = record["state"] if record else None
        if record is None:
            return self._send(404, {"statusCode": "3208", "message": "Transfer ID not found"})
        transfer_state = state if state in ("COMMITTED", "ABORTED", "RESERVED") else "RECEIVED"
        fulfil = {"body": {"transferState": transfer_state}, "headers": {}}
        if transfer_state == "COMMITTED":
            fulfil["body"]["completedTimestamp"] = record.get("completed")
        self._send(
            200,
            {
                "transferId": transfer_id,
                "currentState": "COMPLETED",  # like the adapter: the GET completed, not the transfer
                "fulfil": fulfil,
            },
        )

    def _get_party(self, id_type: str, id_value: str) -> None:
        """The payee lookup: a registered or generated name, not found, or 504 faults."""
        st = self.state
        settings = st.settings
        with st.lock:
            st.party_lookups[id_value] += 1
            lookups = st.party_lookups[id_value]
        if any(id_value.endswith(s) for s in settings.get("party_error_suffixes") or []):
            return self._send(504, {"statusCode": "2004", "message": "Timeout getting party"})
        if any(id_value.endswith(s) for s in settings.get("party_flaky_suffixes") or []):
            if lookups <= int(settings.get("party_flaky_failures") or 0):
                return self._send(504, {"statusCode": "2004", "message": "Timeout getting party"})
        not_found = any(id_value.endswith(s) for s in settings.get("not_found_suffixes") or [])
        if not_found or (float(settings.get("not_found_rate") or 0) and st.fault_for(id_value) == "not_found"):
            return self._send(200, {"party": {"body": {}, "headers": {}}, "currentState": "COMPLETED"})
        party = _party_for(id_type, id_value, settings.get("fsp_id") or "")
        registered = (settings.get("party_names") or {}).get(id_value)
        if registered:
            first, _, last = registered.partition(" ")
            party["name"] = registered
            party["personalInfo"] = {"complexName": {"firstName": first, "lastName": last}}
        self._send(200, {"party": {"body": party, "headers": {}}, "currentState": "COMPLETED"})

    def _response(self, record: dict, current_state: str) -> dict:
        request = record["request"]
        currency = request["currency"]
        fee = str(self.state.settings.get("fee") or "0")
        response = {
            **request,
            "transferId": record["transferId"],
            "currentState": current_state,
            "getPartiesResponse": {"body": {"party": record["party"]}, "headers": {}},
            "to": {
                **request["to"],
                "fspId": record["party"]["partyIdInfo"]["fspId"],
                "displayName": record["party"]["name"],
            },
        }
        if current_state != "WAITING_FOR_PARTY_ACCEPTANCE":
            response["quoteId"] = record.setdefault("quoteId", str(uuid.uuid4()))
            quote_body = {
                "transferAmount": {"amount": request["amount"], "currency": currency},
                "expiration": _now(),
                "ilpPacket": "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFmNEpLMHlGTFGCAUBQU0svMS4wCk5vbmNlOiB1SXlweUYzY3pYSXBFdzVVc05TYWh3CkVuY3J5cHRpb246IG5vbmUKUGF5bWVudC1JZDogMTMyMzZhM2ItOGZhOC00MTYzLTg0NDctNGMzZWQzZGE5OGE3CgpDb250ZW50LUxlbmd0aDogMTM1CkNvbnRlbnQtVHlwZTogYXBwbGljYXRpb24vanNvbgpTZW5kZXItSWRlbnRpZmllcjogOTI4MDYzOTEKCiJ7XCJmZWVcIjowLFwidHJhbnNmZXJDb2RlXCI6XCJpbnZvaWNlXCIsXCJkZWJpdE5hbWVcIjpcImFsaWNlIGNvb3BlclwiLFwiY3JlZGl0TmFtZVwiOlwibWVyIGNoYW50XCIsXCJkZWJpdElkZW50aWZpZXJcIjpcIjkyODA2MzkxXCJ9IgA",
                "condition": "f5sqb7tBTWPd5Y8BDFdMm9BJR_MNI4X3PmnNlGkbKRc",
            }
            if currency in CURRENCIES and from_mojaloop_amount(fee, currency) > 0:
                quote_body["payeeFspFee"] = {"amount": fee, "currency": currency}
            response["quoteResponse"] = {"body": quote_body, "headers": {}}
        if current_state == "COMPLETED":
            response["fulfil"] = {
                "body": {"transferState": "COMMITTED", "completedTimestamp": record.get("completed") or _now()},
                "headers": {},
            }
        return response


def _validate(body: dict) -> str | None:
    """The adapter's schema checks that matter for us (400 when they fail)."""
    for key in ("homeTransactionId", "from", "to", "amountType", "currency", "amount", "transactionType"):
        if key not in body:
            return f"request.body should have required property '{key}'"
    for side in ("from", "to"):
        party = body[side]
        if not isinstance(party, dict) or not party.get("idType") or not party.get("idValue"):
            return f"request.body.{side} should have required properties idType and idValue"
    name = body["from"].get("displayName")
    if name is not None and not re.match(r"^(?!\s*$)[A-Za-z0-9_ .,'-]{1,128}$", str(name)):
        # The real adapter's schema: JavaScript's \w is ASCII, so "Bénin" is refused.
        return 'request.body.from.displayName must match pattern "^(?!\\s*$)[\\w .,\'-]{1,128}$"'
    if not re.match(r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$", str(body["amount"])):
        return 'request.body.amount should match pattern "^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$"'
    return None


def _error_body(request: dict, transfer_id: str, code: str, description: str) -> dict:
    """The adapter's HTTP 500 body when the transfer ends in ERROR_OCCURRED."""
    return {
        "message": description,
        "statusCode": code,
        "transferState": {
            **request,
            "transferId": transfer_id,
            "currentState": "ERROR_OCCURRED",
            "lastError": {
                "httpStatusCode": 500 if code.startswith("5") else 404 if code == "3204" else 400,
                "mojaloopError": {"errorInformation": {"errorCode": code, "errorDescription": description}},
            },
        },
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True
    state: SimulatorState

    def handle_error(self, request, client_address) -> None:
        """A client that hung up (timeout, killed worker) is normal here: no traceback."""
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def get_request(self):
        connection = super().get_request()
        st = self.state
        st.connections += 1
        rate = float(st.settings.get("refuse_rate") or 0)
        if rate and st.random.random() < rate:
            st.refuse_until = time.monotonic() + float(st.settings.get("refuse_ms") or 0) / 1000
        return connection

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        """socketserver's loop, plus refusal windows: the listening socket is closed (new
        connections get ECONNREFUSED, as from a restarting adapter) and then opened again."""
        self._serving = True
        while self._serving:
            if time.monotonic() < self.state.refuse_until:
                self._stop_listening()
                time.sleep(min(max(self.state.refuse_until - time.monotonic(), 0), 0.05))
                continue
            self._listen_again()
            ready, _, _ = select.select([self.socket], [], [], min(poll_interval, 0.05))
            if ready:
                self._handle_request_noblock()
            self.service_actions()

    def shutdown(self) -> None:
        self._serving = False

    def _stop_listening(self) -> None:
        """Serve the connections already queued (their requests may be on their way), then
        close: from now on a connect is refused before any byte of a request leaves."""
        if self.socket.fileno() < 0:
            return
        self.state.refusal_windows += 1
        self.socket.setblocking(False)
        while True:
            try:
                request, address = self.socket.accept()
            except OSError:
                break
            request.setblocking(True)
            self.process_request(request, address)
        self.socket.close()

    def _listen_again(self) -> None:
        if self.socket.fileno() < 0:
            self.socket = socket.socket(self.address_family, self.socket_type)
            self.server_bind()
            self.server_activate()


def make_server(host: str = "127.0.0.1", port: int = 4001, settings: dict | None = None) -> ThreadingHTTPServer:
    """A ready-to-serve simulator (serve_forever() it, in a thread for in-process use)."""
    state = SimulatorState(settings)
    handler = type("Handler", (SimulatorHandler,), {"state": state})
    server = _Server((host, port), handler)
    server.state = state  # type: ignore[attr-defined]
    return server


def serve(host: str = "127.0.0.1", port: int = 4001, **settings: Any) -> None:
    server = make_server(host, port, settings)
    click.echo(f"Simulateur Mojaloop (adaptateur SDK) sur http://{host}:{port}")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _suffixes(values: tuple[str, ...], default: list[str]) -> list[str]:
    """Comma-separated or repeated suffixes; `none` switches the fault off."""
    if not values:
        return default
    if any(value.strip().lower() == "none" for value in values):
        return []
    return [v for value in values for v in value.split(",") if v]


@click.command("mojaloop")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=4001, show_default=True, type=int)
@click.option("--latency-ms", default=0.0, show_default=True, type=float, help="Latency added to every call.")
@click.option("--accept-mode", type=click.Choice(["auto", "manual"]), default="auto", show_default=True)
@click.option("--fee", default="0", show_default=True, help="payeeFspFee per transfer (Mojaloop amount string).")
@click.option("--not-found-suffix", multiple=True, help="Identifier suffixes answered 3204 (default 0404).")
@click.option("--reject-suffix", multiple=True, help="Suffixes the payee rejects, 5104 (default 0500).")
@click.option("--timeout-suffix", multiple=True, help="Suffixes answered 504, then committed (default 0504).")
@click.option("--drop-suffix", multiple=True, help="Suffixes answered 504 and never committed (default 0408).")
@click.option("--hang-suffix", multiple=True, help="Suffixes answered after --hang-ms (default 0499).")
@click.option("--hang-ms", default=3000.0, show_default=True, type=float)
@click.option("--commit-delay-ms", default=0.0, show_default=True, type=float, help="After a 504: RESERVED that long.")
@click.option("--not-found-rate", default=0.0, type=float, help="Random share of 3204 answers (0..1).")
@click.option("--reject-rate", default=0.0, type=float, help="Random share of payee rejections (0..1).")
@click.option("--timeout-rate", default=0.0, type=float, help="Random share of 504-then-committed (0..1).")
@click.option("--hang-rate", default=0.0, type=float, help="Random share of transfers answered after --hang-ms.")
@click.option("--refuse-rate", default=0.0, type=float, help="Share of new connections after which we refuse.")
@click.option("--refuse-ms", default=20.0, type=float, help="How long each refusal window lasts.")
@click.option("--close-rate", default=0.0, type=float, help="Random share of answers with Connection: close.")
@click.option("--seed", default=None, type=int)
def command(host: str, port: int, latency_ms: float, accept_mode: str, fee: str, **options: Any) -> None:
    """Start the Mojaloop SDK adapter simulator (outbound API)."""
    serve(
        host,
        port,
        latency_ms=latency_ms,
        auto_accept=accept_mode == "auto",
        fee=fee,
        not_found_suffixes=_suffixes(options["not_found_suffix"], DEFAULT_SETTINGS["not_found_suffixes"]),
        reject_suffixes=_suffixes(options["reject_suffix"], DEFAULT_SETTINGS["reject_suffixes"]),
        timeout_suffixes=_suffixes(options["timeout_suffix"], DEFAULT_SETTINGS["timeout_suffixes"]),
        drop_suffixes=_suffixes(options["drop_suffix"], DEFAULT_SETTINGS["drop_suffixes"]),
        hang_suffixes=_suffixes(options["hang_suffix"], DEFAULT_SETTINGS["hang_suffixes"]),
        hang_ms=options["hang_ms"],
        commit_delay_ms=options["commit_delay_ms"],
        not_found_rate=options["not_found_rate"],
        reject_rate=options["reject_rate"],
        timeout_rate=options["timeout_rate"],
        hang_rate=options["hang_rate"],
        refuse_rate=options["refuse_rate"],
        refuse_ms=options["refuse_ms"],
        close_rate=options["close_rate"],
        seed=options["seed"],
    )
