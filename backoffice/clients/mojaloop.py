"""Client of the Mojaloop SDK scheme adapter's outbound API (POST/PUT/GET /transfers).

Every call returns a typed result and never lets an HTTP exception out: a 504, a timeout
or a connection lost after the request went out is `Outcome.UNKNOWN` (the payment may still
complete), which is not the same thing as `Outcome.FAILED` (the switch or the payee said no,
with the Mojaloop error code kept as received), nor as `Outcome.NOT_SENT` (connection
refused, DNS failure, connect timeout: not one byte of the request left, so it may be sent
again at once with the same transferId).

The HTTP layer is libcurl (pycurl): each thread that calls keeps its own handle and its
keep-alive connection, the status line, headers and body are parsed in C with the GIL released,
and proxies and the CA bundle are read once when the client is built. A call cost 0.55 ms of
CPU with Python's own HTTP stack (urllib3 over http.client, headers through email.parser)
and 0.23 ms with libcurl, request and JSON included (benchmarks/RESULTS.md, issue 16, third
round).

"Not sent" is decided by libcurl's pre-request hook: it runs once the connection is up, just
before the request's first byte is written. A call that failed without reaching it never left
the machine. The hook also refuses a second run within one call, so libcurl never retries a
request by itself on a fresh connection after a kept-alive one died: one call, one send.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import threading
import unicodedata
import urllib.request
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import pycurl

from backoffice.services.money import from_mojaloop_amount, to_mojaloop_amount

log = logging.getLogger(__name__)

# Mojaloop's "transfer id not found" (FSPIOP error code 3208).
TRANSFER_NOT_FOUND_CODES = {"3208"}
# The switch refused a transfer id it already holds (3106 modified request / duplicate):
# the earlier attempt may have been paid, so this is "unknown", never "failed".
DUPLICATE_TRANSFER_CODES = {"3106"}


class MojaloopError(Exception):
    """The one error type of this module: a misuse or an unusable configuration."""


class Outcome(enum.StrEnum):
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"  # 504, timeout, connection lost, unreadable answer: settle by status
    NOT_SENT = "NOT_SENT"  # refused / DNS / connect timeout: the request never left, send again


class TransferState(enum.StrEnum):
    """What the status endpoint says about a transfer."""

    COMMITTED = "COMMITTED"  # paid
    ABORTED = "ABORTED"  # not paid, final
    PENDING = "PENDING"  # RESERVED / RECEIVED: not final yet
    NOT_FOUND = "NOT_FOUND"  # the switch does not know it (404 / 3208)
    UNREACHABLE = "UNREACHABLE"  # no usable answer (504, timeout, connection, garbage)


@dataclass(frozen=True)
class Party:
    id_type: str
    id_value: str
    display_name: str = ""
    party_type: str = ""  # BUSINESS for a payer organisation


@dataclass(frozen=True)
class TransferRequest:
    """One row to pay: our own transferId (saved before the call) and references."""

    transfer_id: str
    home_transaction_id: str
    payer: Party
    payee: Party
    amount: int  # minor units
    currency: str
    note: str = ""


@dataclass(frozen=True)
class TransferResult:
    outcome: Outcome
    transfer_id: str
    payee_name: str | None = None
    payee_fsp_id: str | None = None
    fee: int = 0  # minor units
    error_code: str | None = None
    error_description: str | None = None
    http_status: int | None = None
    detail: str = ""  # why the outcome is unknown, for logs and the timeline


@dataclass(frozen=True)
class StatusResult:
    state: TransferState
    transfer_id: str
    error_code: str | None = None
    error_description: str | None = None
    http_status: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class PartyLookup:
    found: bool
    name: str | None = None
    fsp_id: str | None = None
    unknown: bool = False  # the lookup itself got no usable answer


class MojaloopClient:
    """An HTTP client of the adapter; thread-safe: each calling thread has its own handle and
    kept-alive connection."""

    HEADERS = [
        "Content-Type: application/json",
        "Accept: application/json",
        "User-Agent: backoffice",
        "Expect:",  # no "100-continue" round trip before a body
    ]

    def __init__(self, base_url: str, timeout: float = 35.0, auto_accept: bool = True) -> None:
        if not base_url:
            raise MojaloopError("MOJALOOP_SDK_URL is not set")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.auto_accept = auto_accept
        # Read once, here: the proxy (HTTP(S)_PROXY / NO_PROXY) and the CA bundle (like requests:
        # REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's).
        self._proxy = _proxy_for(self.base_url) or ""  # "" also stops libcurl reading the environment
        self._ca_bundle = _ca_bundle() if urlsplit(self.base_url).scheme == "https" else None
        self._local = threading.local()  # each thread's _Connection
        self._connections: list[_Connection] = []
        self._connections_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Any, timeout: float | None = None) -> MojaloopClient:
        """The adapter's client from the settings; `timeout` overrides MOJALOOP_TIMEOUT_SECONDS."""
        return cls(
            config["MOJALOOP_SDK_URL"],
            timeout=float(config["MOJALOOP_TIMEOUT_SECONDS"] if timeout is None else timeout),
            auto_accept=bool(config["MOJALOOP_AUTO_ACCEPT"]),
        )

    def close(self) -> None:
        """Close every thread's handle (and its connection); a later call opens a new one."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.closed = True
            connection.handle.close()

    # --- transfers -------------------------------------------------------------------

    def transfer(self, request: TransferRequest) -> TransferResult:
        """Pay one row: POST /transfers, then accept the party and the quote when asked."""
        body = build_transfer_body(request)
        response = self._call("POST", "/transfers", body)
        if isinstance(response, _NoResponse) and not response.sent:
            return TransferResult(Outcome.NOT_SENT, request.transfer_id, detail=response.detail)
        result = self._interpret(request, response)
        # Accept mode: the adapter stops twice and waits for our word (newer defaults).
        for _ in range(3):
            if not isinstance(result, _Waiting):
                return result
            if self.auto_accept:
                log.warning("adapter waits for %s although MOJALOOP_AUTO_ACCEPT is on", result.state)
            accept = {"acceptParty": True} if result.state == "WAITING_FOR_PARTY_ACCEPTANCE" else {"acceptQuote": True}
            response = self._call("PUT", f"/transfers/{request.transfer_id}", accept)
            result = self._interpret(request, response, previous=result)
        if isinstance(result, _Waiting):
            return TransferResult(Outcome.UNKNOWN, request.transfer_id, detail="adapter kept waiting for acceptance")
        return result

    def transfer_status(self, transfer_id: str) -> StatusResult:
        """GET /transfers/{id}: the switch's word on a transfer whose outcome we lost."""
        response = self._call("GET", f"/transfers/{transfer_id}")
        if isinstance(response, _NoResponse):
            return StatusResult(TransferState.UNREACHABLE, transfer_id, detail=response.detail)
        status = response.status_code
        data = _json(response)
        if status == 404:
            return StatusResult(TransferState.NOT_FOUND, transfer_id, http_status=status)
        if status >= 500 or data is None:
            code, description = _error_of(data)
            if code in TRANSFER_NOT_FOUND_CODES:
                return StatusResult(TransferState.NOT_FOUND, transfer_id, code, description, status)
            return StatusResult(TransferState.UNREACHABLE, transfer_id, code, description, status, f"HTTP {status}")
        if status >= 400:
            code, description = _error_of(data)
            return StatusResult(TransferState.UNREACHABLE, transfer_id, code, description, status, f"HTTP {status}")
        # Only the switch's word counts: the adapter's `currentState` is COMPLETED as soon as
        # the GET itself completed, whatever the transfer's state (seen with 18.0.2).
        state = _dig(data, "fulfil", "body", "transferState") or _dig(data, "fulfil", "transferState")
        if state == "COMMITTED":
            return StatusResult(TransferState.COMMITTED, transfer_id, http_status=status)
        if state == "ABORTED":
            code, description = _error_of(data)
            return StatusResult(TransferState.ABORTED, transfer_id, code, description, status)
        return StatusResult(TransferState.PENDING, transfer_id, http_status=status, detail=str(state or ""))

    def lookup_party(self, id_type: str, id_value: str) -> PartyLookup:
        """GET /parties/{type}/{id}; an empty party body means "not found"."""
        response = self._call("GET", f"/parties/{id_type}/{id_value}")
        if isinstance(response, _NoResponse):
            return PartyLookup(False, unknown=True)
        data = _json(response) or {}
        if response.status_code >= 500:
            # The adapter relays the switch's "party not found" (3204) as an HTTP 500.
            code, _description = _error_of(data)
            return PartyLookup(False) if code == "3204" else PartyLookup(False, unknown=True)
        body = _dig(data, "party", "body") or {}
        if response.status_code >= 400 or not body:
            return PartyLookup(False)
        return PartyLookup(True, _party_name(body), _dig(body, "partyIdInfo", "fspId"))

    # --- internals -------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None = None) -> _Response | _NoResponse:
        """The HTTP call; a _NoResponse says why there is none and whether the request left."""
        connection = self._connection()
        handle = connection.handle
        buffer = BytesIO()
        handle.setopt(pycurl.URL, self.base_url + path)
        handle.setopt(pycurl.CUSTOMREQUEST, method)
        if body is None:
            handle.setopt(pycurl.HTTPGET, 1)
        else:
            handle.setopt(pycurl.POSTFIELDS, json.dumps(body, allow_nan=False).encode())
        handle.setopt(pycurl.WRITEDATA, buffer)
        connection.sent = False
        try:
            handle.perform()
        except pycurl.error as exc:
            code = exc.args[0] if exc.args else None
            message = exc.args[1] if len(exc.args) > 1 else str(exc)
            if not connection.sent:  # the pre-request hook never ran: not one byte left
                return _NoResponse(f"not sent: {message}"[:200], sent=False)
            if code == pycurl.E_OPERATION_TIMEDOUT:
                return _NoResponse(f"no answer within {self.timeout:g} s")
            return _NoResponse(f"connection error: {message}"[:200])
        return _Response(handle.getinfo(pycurl.RESPONSE_CODE), buffer.getvalue())

    def _connection(self) -> _Connection:
        """This thread's handle, made on its first call; its connection is kept alive."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and not connection.closed:
            return connection
        handle = pycurl.Curl()
        connection = _Connection(handle)
        milliseconds = max(int(self.timeout * 1000), 1)
        for option, value in (
            (pycurl.NOSIGNAL, 1),  # timeouts without SIGALRM: we run in threads
            (pycurl.TCP_NODELAY, 1),
            (pycurl.CONNECTTIMEOUT_MS, milliseconds),
            (pycurl.TIMEOUT_MS, milliseconds),  # the whole call, as the adapter answers once
            (pycurl.HTTPHEADER, self.HEADERS),
            (pycurl.PROXY, self._proxy),
            (pycurl.FOLLOWLOCATION, 0),
            (pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS),
            (pycurl.PREREQFUNCTION, connection.before_request),
        ):
            handle.setopt(option, value)
        if self._ca_bundle:
            handle.setopt(pycurl.CAINFO, self._ca_bundle)
        self._local.connection = connection
        with self._connections_lock:
            self._connections.append(connection)
        return connection

    def _interpret(
        self, request: TransferRequest, response: _Response | _NoResponse, previous: _Waiting | None = None
    ) -> TransferResult | _Waiting:
        tid = request.transfer_id
        if isinstance(response, _NoResponse):  # after the POST went out, even "not sent" is unknown
            return TransferResult(Outcome.UNKNOWN, tid, detail=response.detail)
        status = response.status_code
        data = _json(response)
        if 200 <= status < 300 and data is not None:
            payee_name, fsp_id = _payee_of(data)
            fee = _fee_of(data, request.currency)
            if previous is not None:
                payee_name = payee_name or previous.payee_name
                fsp_id = fsp_id or previous.payee_fsp_id
                fee = fee or previous.fee
            state = data.get("currentState")
            if state == "COMPLETED":
                return TransferResult(Outcome.COMPLETED, tid, payee_name, fsp_id, fee, http_status=status)
            if state in ("WAITING_FOR_PARTY_ACCEPTANCE", "WAITING_FOR_QUOTE_ACCEPTANCE"):
                return _Waiting(state, payee_name, fsp_id, fee)
            if state == "ERROR_OCCURRED":
                code, description = _error_of(data)
                return TransferResult(Outcome.FAILED, tid, payee_name, fsp_id, 0, code, description, status)
            return TransferResult(Outcome.UNKNOWN, tid, payee_name, fsp_id, http_status=status, detail=f"state {state}")
        if status == 500 and data is not None:
            code, description = _error_of(data)
            current = _dig(data, "transferState", "currentState")
            if code in DUPLICATE_TRANSFER_CODES:
                return TransferResult(Outcome.UNKNOWN, tid, http_status=status, detail=f"duplicate transferId ({code})")
            if code and current in (None, "ERROR_OCCURRED"):
                payee_name, fsp_id = _payee_of(data.get("transferState") or {})
                return TransferResult(Outcome.FAILED, tid, payee_name, fsp_id, 0, code, description, status)
        if 400 <= status < 500 and status not in (404, 408, 409, 429):
            # The adapter refused the request itself (validation): nothing reached the switch.
            code, description = _error_of(data)
            return TransferResult(
                Outcome.FAILED, tid, error_code=code or str(status), error_description=description, http_status=status
            )
        return TransferResult(Outcome.UNKNOWN, tid, http_status=status, detail=f"HTTP {status}")


class _Response:
    """What we keep of an HTTP answer: its status and its body."""

    __slots__ = ("status_code", "content")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


class _Connection:
    """One thread's libcurl handle, and whether the current call's request has left."""

    __slots__ = ("handle", "sent", "closed")

    def __init__(self, handle: pycurl.Curl) -> None:
        self.handle = handle
        self.sent = False
        self.closed = False

    def before_request(self, _ip: str, _local_ip: str, _port: int, _local_port: int) -> int:
        """libcurl's pre-request hook: the request is about to be written on the connection.
        A second run in the same call would be libcurl resending on a fresh connection (the
        kept-alive one died unanswered): refused, the call ends as sent and unanswered."""
        if self.sent:
            return pycurl.PREREQFUNC_ABORT
        self.sent = True
        return pycurl.PREREQFUNC_OK


@dataclass(frozen=True)
class _NoResponse:
    detail: str
    sent: bool = True  # False: the request never left (refused, DNS, connect timeout)


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for this URL (None when none or bypassed)."""
    proxies = urllib.request.getproxies()
    host = urlsplit(url).hostname or ""
    proxy = proxies.get(urlsplit(url).scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def _ca_bundle() -> str | None:
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        return bundle
    try:
        import certifi
    except ImportError:  # pragma: no cover - the system store
        return None
    return certifi.where()


@dataclass(frozen=True)
class _Waiting:
    state: str
    payee_name: str | None
    payee_fsp_id: str | None
    fee: int


def build_transfer_body(request: TransferRequest) -> dict:
    """The adapter's POST /transfers body for one row."""
    payer: dict[str, Any] = {"idType": request.payer.id_type, "idValue": request.payer.id_value}
    display_name = mojaloop_name(request.payer.display_name)
    if display_name:
        payer["displayName"] = display_name
    if request.payer.party_type:
        payer["type"] = request.payer.party_type
    body: dict[str, Any] = {
        "transferId": request.transfer_id,
        "homeTransactionId": request.home_transaction_id,
        "from": payer,
        "to": {"idType": request.payee.id_type, "idValue": request.payee.id_value},
        "amountType": "SEND",
        "currency": request.currency,
        "amount": to_mojaloop_amount(request.amount, request.currency),
        "transactionType": "TRANSFER",
    }
    note = mojaloop_name(request.note)
    if note:
        body["note"] = note
    return body


def mojaloop_name(text: str) -> str:
    """A name the adapter accepts: `^(?!\\s*$)[\\w .,'-]{1,128}$` with ASCII \\w.

    The adapter (18.0.2) answers 400 to `CNSS Bénin`: accents are folded (`CNSS Benin`),
    other characters become spaces.
    """
    folded = (
        unicodedata.normalize("NFKD", (text or "").replace("\u2019", "'")).encode("ascii", "ignore").decode("ascii")
    )
    cleaned = re.sub(r"[^A-Za-z0-9_ .,'-]", " ", folded)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    return cleaned[:128]


def _json(response: _Response) -> dict | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _error_of(data: dict | None) -> tuple[str | None, str | None]:
    """Mojaloop error code and description, kept as received."""
    if not data:
        return None, None
    for path in (
        ("transferState", "lastError", "mojaloopError", "errorInformation"),
        ("lastError", "mojaloopError", "errorInformation"),
        ("mojaloopError", "errorInformation"),
        ("errorInformation",),
        ("fulfil", "body", "errorInformation"),
    ):
        info = _dig(data, *path)
        if isinstance(info, dict) and info.get("errorCode"):
            return str(info["errorCode"]), _text(info.get("errorDescription"))
    code = data.get("statusCode")
    return (str(code) if code else None), _text(data.get("message"))


def _text(value: Any) -> str | None:
    return str(value)[:500] if value not in (None, "") else None


def _party_name(party: dict) -> str | None:
    name = party.get("name")
    if name:
        return str(name)
    complex_name = _dig(party, "personalInfo", "complexName") or {}
    parts = [complex_name.get(k) for k in ("firstName", "middleName", "lastName")]
    joined = " ".join(p for p in parts if p)
    return joined or None


def _payee_of(data: dict) -> tuple[str | None, str | None]:
    """The payee's registered name and FSP, from getPartiesResponse or the echoed `to`."""
    party = _dig(data, "getPartiesResponse", "body", "party") or _dig(data, "getPartiesResponse", "party") or {}
    name = _party_name(party) if party else None
    fsp = _dig(party, "partyIdInfo", "fspId")
    to = data.get("to") if isinstance(data.get("to"), dict) else {}
    if not name:
        name = to.get("displayName") or " ".join(p for p in (to.get("firstName"), to.get("lastName")) if p) or None
    return name, fsp or to.get("fspId")


def _fee_of(data: dict, currency: str) -> int:
    """The payee FSP's fee from the quote, in minor units (0 when there is none)."""
    quote = data.get("quoteResponse")
    if not isinstance(quote, dict):
        return 0
    body = quote.get("body") if isinstance(quote.get("body"), dict) else quote
    fee = body.get("payeeFspFee") or body.get("fees")
    if not isinstance(fee, dict) or not fee.get("amount"):
        return 0
    try:
        return from_mojaloop_amount(str(fee["amount"]), fee.get("currency") or currency)
    except (KeyError, ValueError):
        return 0
