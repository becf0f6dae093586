"""The SDK adapter client against the simulator, over HTTP: both accept modes and the faults."""

from __future__ import annotations

import time
import uuid

import requests

from backoffice import devservers
from backoffice.clients.mojaloop import (
    MojaloopClient,
    Outcome,
    Party,
    TransferRequest,
    TransferState,
    build_transfer_body,
)

PAYER = Party("BUSINESS", "CNSS-BJ", "CNSS Bénin", "BUSINESS")


def _request(identifier: str, amount: int = 5000, currency: str = "XOF", transfer_id: str | None = None):
    return TransferRequest(
        transfer_id=transfer_id or str(uuid.uuid4()),
        home_transaction_id=f"LOT-1-{identifier}",
        payer=PAYER,
        payee=Party("MSISDN", identifier),
        amount=amount,
        currency=currency,
    )


def test_transfer_body_carries_our_ids_and_mojaloop_amount():
    body = build_transfer_body(_request("22997000001", amount=7550, currency="MRU", transfer_id="t-1"))
    assert body["transferId"] == "t-1"
    assert body["homeTransactionId"] == "LOT-1-22997000001"
    assert body["amount"] == "75.5"
    assert body["amountType"] == "SEND" and body["transactionType"] == "TRANSFER"
    assert body["from"] == {"idType": "BUSINESS", "idValue": "CNSS-BJ", "displayName": "CNSS Benin", "type": "BUSINESS"}
    assert body["to"] == {"idType": "MSISDN", "idValue": "22997000001"}


def test_auto_accept_completes_with_name_fsp_and_fee(sim):
    sim.configure(fee="1.5", fsp_id="mtn-bj")
    client = MojaloopClient(sim.url, timeout=5)
    request = _request("22997000001", amount=7550, currency="MRU")
    result = client.transfer(request)
    assert result.outcome == Outcome.COMPLETED
    assert result.transfer_id == request.transfer_id
    assert result.payee_name and result.payee_fsp_id == "mtn-bj"
    assert result.fee == 150
    stats = sim.stats()
    assert stats["home_hits"] == {request.home_transaction_id: 1}
    assert stats["commits"] == {request.transfer_id: 1}


def test_accept_party_then_quote_mode(sim):
    sim.configure(auto_accept=False, fee="25")
    client = MojaloopClient(sim.url, timeout=5, auto_accept=False)
    request = _request("22997000002")
    result = client.transfer(request)
    assert result.outcome == Outcome.COMPLETED
    assert result.fee == 25 and result.payee_name
    assert sim.stats()["commits"] == {request.transfer_id: 1}


def test_party_not_found_is_failed_with_code_as_received(sim):
    client = MojaloopClient(sim.url, timeout=5)
    result = client.transfer(_request("22997000404"))
    assert result.outcome == Outcome.FAILED
    assert result.error_code == "3204"
    assert result.error_description == "Party not found"
    assert result.http_status == 500


def test_payee_rejection_is_failed(sim):
    client = MojaloopClient(sim.url, timeout=5)
    result = client.transfer(_request("22997000500"))
    assert result.outcome == Outcome.FAILED
    assert result.error_code == "5104"


def test_504_is_unknown_and_the_status_says_committed(sim):
    client = MojaloopClient(sim.url, timeout=5)
    request = _request("22997000504")
    result = client.transfer(request)
    assert result.outcome == Outcome.UNKNOWN
    assert result.http_status == 504
    status = client.transfer_status(request.transfer_id)
    assert status.state == TransferState.COMMITTED
    assert sim.stats()["commits"] == {request.transfer_id: 1}


def test_status_pending_while_the_switch_has_not_finished(sim):
    sim.configure(commit_delay_ms=600)
    client = MojaloopClient(sim.url, timeout=5)
    request = _request("22997000504")
    assert client.transfer(request).outcome == Outcome.UNKNOWN
    assert client.transfer_status(request.transfer_id).state == TransferState.PENDING
    time.sleep(0.7)
    assert client.transfer_status(request.transfer_id).state == TransferState.COMMITTED


def test_dropped_transfer_is_not_found_then_resent_with_the_same_id(sim):
    client = MojaloopClient(sim.url, timeout=5)
    request = _request("22997000408")
    assert client.transfer(request).outcome == Outcome.UNKNOWN
    assert client.transfer_status(request.transfer_id).state == TransferState.NOT_FOUND
    assert client.transfer(request).outcome == Outcome.COMPLETED
    # The switch refuses a third transfer with the same id: "unknown", never "failed".
    again = client.transfer(request)
    assert again.outcome == Outcome.UNKNOWN
    stats = sim.stats()
    assert stats["commits"] == {request.transfer_id: 1}
    assert stats["totals"]["duplicates_refused"] == 1


def test_client_timeout_is_unknown(sim):
    sim.configure(hang_ms=1500)
    client = MojaloopClient(sim.url, timeout=0.3)
    request = _request("22997000499")
    result = client.transfer(request)
    assert result.outcome == Outcome.UNKNOWN
    assert "0.3" in result.detail
    time.sleep(1.4)
    assert MojaloopClient(sim.url, timeout=5).transfer_status(request.transfer_id).state == TransferState.COMMITTED


def test_connection_refused_is_not_sent(services):
    """Refused at connect: the request never left, so it is NOT_SENT (sent again at once),
    not UNKNOWN; a status check that gets no answer stays UNREACHABLE."""
    client = MojaloopClient(f"http://127.0.0.1:{devservers.free_port()}", timeout=1)
    request = _request("22997000001")
    result = client.transfer(request)
    assert result.outcome == Outcome.NOT_SENT and "not sent" in result.detail
    assert client.transfer_status(request.transfer_id).state == TransferState.UNREACHABLE


def test_adapter_validation_error_is_failed_without_payment(sim):
    request = _request("22997000001")
    bad = {**build_transfer_body(request), "amount": "75.50"}
    response = requests.post(f"{sim.url}/transfers", json=bad, timeout=5)
    assert response.status_code == 400
    assert sim.stats()["totals"]["commits"] == 0


def test_party_lookup(sim):
    client = MojaloopClient(sim.url, timeout=5)
    found = client.lookup_party("MSISDN", "22997000001")
    assert found.found and found.name and found.fsp_id
    assert not client.lookup_party("MSISDN", "22997000404").found
