"""One small batch through the REAL SDK scheme adapter and the Mojaloop Testing Toolkit.

Skipped unless REAL_PEER_DIR points at the folder filled by scripts/real_peer_install.sh;
run it with scripts/real_peer.sh (a separate CI stage: the install takes ~7 minutes).
The TTK plays the switch and the payee FSP; a validation rule makes it answer 3204 for one
MSISDN. Both programs bind every interface: a preload keeps them on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
from rq import SimpleWorker

from backoffice import devservers
from backoffice.extensions import db
from backoffice.models.batches import Batch, BatchStatus, RowStatus
from backoffice.services.bulk import chunks
from tests.factories import ledger_consistent, make_approved_batch, row_map

PEER_DIR = Path(os.environ.get("REAL_PEER_DIR", "")) if os.environ.get("REAL_PEER_DIR") else None
TTK_DIR = PEER_DIR / "ttk/node_modules/ml-testing-toolkit" if PEER_DIR else None
SDK_DIR = PEER_DIR / "sdk/node_modules/@mojaloop/sdk-scheme-adapter" if PEER_DIR else None

pytestmark = pytest.mark.skipif(
    not (TTK_DIR and (TTK_DIR / "src/index.js").exists() and (SDK_DIR / "src/index.js").exists()),
    reason="real Mojaloop peers not installed (scripts/real_peer.sh)",
)

NOT_FOUND_MSISDN = "22997000404"
# Fixed ports of the TTK (4040 switch, 5050 admin) and the adapter (4000 in, 4001 out, 4004 metrics).
PORTS = (4000, 4001, 4004, 4040, 5050)


def _busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _rule_3204() -> list[dict]:
    """A TTK validation rule: GET /parties/MSISDN/<id> answers PUT …/error with 3204."""
    return [
        {
            "ruleId": 1,
            "priority": 1,
            "description": "backoffice real peer: party not found",
            "apiVersion": {"minorVersion": 0, "majorVersion": 1, "type": "fspiop", "asynchronous": True},
            "conditions": {
                "all": [
                    {"fact": "operationPath", "operator": "equal", "value": "/parties/{Type}/{ID}"},
                    {"fact": "method", "operator": "equal", "value": "get"},
                    {"fact": "pathParams", "operator": "equal", "value": NOT_FOUND_MSISDN, "path": "ID"},
                ]
            },
            "event": {
                "method": None,
                "path": None,
                "params": {
                    "headers": {
                        "Content-Type": "application/vnd.interoperability.parties+json;version=1.0",
                        "FSPIOP-Source": "{$config.FSPID}",
                        "FSPIOP-Destination": "{$request.headers.fspiop-source}",
                        "Date": "{$request.headers.date}",
                    },
                    "body": {"errorInformation": {"errorCode": "3204", "errorDescription": "Party not found"}},
                    "delay": 0,
                },
                "type": "FIXED_ERROR_CALLBACK",
            },
            "type": "validation",
            "version": 1,
        }
    ]


class Peers:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: list[subprocess.Popen] = []
        self.adapter: subprocess.Popen | None = None
        self.redis = devservers.start_redis()

    def _node(self, cwd: Path, name: str, env: dict | None = None) -> subprocess.Popen:
        process = subprocess.Popen(
            ["node", "-r", str(PEER_DIR / "loopback.js"), "src/index.js"],
            cwd=str(cwd),
            env={**os.environ, **(env or {})},
            stdout=open(self.logs / f"{name}.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def start_ttk(self) -> None:
        self._node(TTK_DIR, "ttk")
        devservers.wait_for_port(5050, timeout=120)
        devservers.wait_for_port(4040, timeout=120)
        # PUT /api/config/user replaces the whole user config: send all of it.
        config = json.loads((TTK_DIR / "spec_files/user_config.json").read_text())
        config["CALLBACK_ENDPOINT"] = "http://127.0.0.1:4000"
        requests.put("http://127.0.0.1:5050/api/config/user", json=config, timeout=10).raise_for_status()
        base = "http://127.0.0.1:5050/api/rules/files/validation"
        requests.put(f"{base}/backoffice.json", json=_rule_3204(), timeout=10).raise_for_status()
        requests.put(
            base, json={"type": "activeRulesFile", "fileName": "backoffice.json"}, timeout=10
        ).raise_for_status()

    def start_adapter(self, auto_accept: bool) -> None:
        self.stop_adapter()
        flag = "true" if auto_accept else "false"
        self.adapter = self._node(
            SDK_DIR,
            f"adapter-{'auto' if auto_accept else 'manual'}",
            {
                "INBOUND_LISTEN_PORT": "4000",
                "OUTBOUND_LISTEN_PORT": "4001",
                "PEER_ENDPOINT": "127.0.0.1:4040",
                "BACKEND_ENDPOINT": "127.0.0.1:4040/sdk-backend",
                "CACHE_URL": self.redis.url.rsplit("/", 1)[0],
                "DFSP_ID": "cnssbj",
                "JWS_SIGN": "false",
                "VALIDATE_INBOUND_JWS": "false",
                "AUTO_ACCEPT_PARTY": flag,
                "AUTO_ACCEPT_QUOTES": flag,
            },
        )
        devservers.wait_for_port(4001, timeout=120)

    def stop_adapter(self) -> None:
        if self.adapter is not None and self.adapter.poll() is None:
            self.adapter.terminate()
            self.adapter.wait(timeout=20)
            for port in (4000, 4001, 4004):
                for _ in range(100):
                    if not _busy(port):
                        break
                    import time

                    time.sleep(0.1)
        self.adapter = None

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.redis.stop()


@pytest.fixture(scope="module")
def peers(services):
    busy = [p for p in PORTS if _busy(p)]
    if busy:
        pytest.fail(f"ports already in use, the real peers cannot start: {busy}")
    logs = Path(tempfile.mkdtemp(prefix="real-peer-logs-"))
    started = Peers(logs)
    try:
        started.start_ttk()
        yield started
    finally:
        started.stop()
        print(f"real peer logs in {logs}")


@pytest.fixture
def peer_config(app):
    saved = {k: app.config[k] for k in ("MOJALOOP_SDK_URL", "MOJALOOP_TIMEOUT_SECONDS", "MOJALOOP_AUTO_ACCEPT")}
    app.config.update(
        MOJALOOP_SDK_URL="http://127.0.0.1:4001",
        MOJALOOP_TIMEOUT_SECONDS=45,
        BATCH_CONCURRENCY=2,  # the TTK handles ~1.5 transfers/s
        BATCH_STATUS_BACKOFF_SECONDS=1,
    )
    yield app
    app.config.update(saved)


@pytest.mark.parametrize("auto_accept", [True, False], ids=["auto-accept", "accept-party-and-quote"])
def test_small_batch_through_the_real_adapter(app, demo, peers, peer_config, auto_accept):
    peers.start_adapter(auto_accept)
    app.config["MOJALOOP_AUTO_ACCEPT"] = auto_accept
    identifiers = ["22997000101", "22997000102", "22997000103", NOT_FOUND_MSISDN]
    with app.app_context():
        batch_id = make_approved_batch(identifiers, amount=[5000, 7500, 10000, 2500])
        chunks.start_processing(batch_id)
        queue = app.get_queue()
        SimpleWorker([queue], connection=queue.connection).work(burst=True, logging_level="WARNING")
        db.session.expire_all()
        batch = db.session.get(Batch, batch_id)
        rows = row_map(batch_id)
        assert batch.status == BatchStatus.PARTIALLY_COMPLETED, {k: (r.status, r.error_code) for k, r in rows.items()}
        for value in identifiers[:3]:
            row = rows[value]
            assert row.status == RowStatus.COMPLETED, (value, row.status, row.error_code, row.error_description)
            assert row.payee_fsp_id == "testingtoolkitdfsp" and row.payee_name
        failed = rows[NOT_FOUND_MSISDN]
        assert failed.status == RowStatus.FAILED
        assert (failed.error_code, failed.error_description) == ("3204", "Party not found")
        assert batch.reserved_amount == 0
        ok, figures = ledger_consistent()
        assert ok and figures["reserved"] == 0, figures


def test_payee_verification_through_the_real_adapter(app, demo, peers, peer_config):
    """Issue 11: GET /parties through the real adapter: one party found, one not found."""
    import io

    from backoffice.models import User
    from backoffice.services.bulk import importing, verification

    peers.start_adapter(True)
    content = (
        "type_id,valeur_id,devise,montant,nom_complet\n"
        f"MSISDN,22997000101,XOF,5000,Awa\nMSISDN,{NOT_FOUND_MSISDN},XOF,2500,Personne\n"
    ).encode()
    with app.app_context():
        actor = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
        batch = importing.create_from_upload(
            actor, demo["accounts"]["ACC-CNSS-001"], "Pairs", io.BytesIO(content), "p.csv"
        )
        db.session.commit()
        verification.start_verification(actor, batch.id)
        queue = app.get_queue()
        SimpleWorker([queue], connection=queue.connection).work(burst=True, logging_level="WARNING")
        db.session.expire_all()
        rows = row_map(batch.id)
        found = rows["22997000101"]
        assert found.lookup_status == "FOUND" and found.lookup_fsp_id == "testingtoolkitdfsp" and found.lookup_name
        missing = rows[NOT_FOUND_MSISDN]
        assert missing.lookup_status == "NOT_FOUND" and missing.status == RowStatus.INVALID
