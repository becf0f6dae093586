"""Outgoing requests to URLs that clients give us (fines callbacks, webhooks, batch callbacks): no SSRF.

A client-given URL must never make the worker a port scanner of our own network:
- at submission (`url_problem`): http(s) only, no credentials in the URL, a sane host
  and port; https in production; `destination_problem` adds the address rule below
  for the host as it resolves now (webhook endpoints and batch callbacks);
- at delivery (`deliver`): the host is resolved and the address *actually connected to*
  is checked (so DNS rebinding between a check and the connection cannot slip through),
  and refused when loopback, private, link-local, multicast, reserved or unspecified,
  unless it is in OUTGOING_ALLOWED_NETWORKS (comma-separated CIDRs, empty by default; for
  development and tests, e.g. `127.0.0.0/8`); plain http only to those networks;
- no redirect is followed, timeouts are short, and the caller learns only
  "delivered / not delivered": nothing of the target's reply.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError
from urllib3.util import Timeout

MAX_URL_LENGTH = 500


class AddressRefused(OSError):
    """The URL's host resolves to an address we never connect to."""


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    text = current_app.config.get("OUTGOING_ALLOWED_NETWORKS", "") or ""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


def url_problem(url: object, production: bool) -> str | None:
    """Why a client-given URL is refused at submission (French), or None."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or any(ord(c) < 33 or ord(c) == 127 for c in url):
        return f"doit être une adresse http(s) complète d'au plus {MAX_URL_LENGTH} caractères"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"doit être une adresse http(s) complète d'au plus {MAX_URL_LENGTH} caractères"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "ne doit pas contenir d'identifiants (utilisateur:mot de passe@)"
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        return "porte un numéro de port invalide"
    if production and parts.scheme != "https" and not allowed_networks():
        return "doit être une adresse https en production"
    return None


def destination_problem(url: object, production: bool) -> str | None:
    """`url_problem`, then the connect-time address rule applied to the host as it resolves now
    (a registration is refused at once; `deliver` checks again at every connection)."""
    problem = url_problem(url, production)
    if problem is not None:
        return problem
    parts = urlsplit(url)  # type: ignore[arg-type]
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return "désigne un nom de domaine introuvable"
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address_allowed(ip, parts.scheme):
            continue
        if parts.scheme == "http" and address_allowed(ip, "https"):
            return "doit être une adresse https"
        return "mène à une adresse interne (boucle locale, réseau privé ou réservé) : refusée"
    return None


def address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, scheme: str) -> bool:
    """Public addresses over https; anything else only inside OUTGOING_ALLOWED_NETWORKS."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed_networks()):
        return True
    if scheme != "https":
        return False
    return ip.is_global and not (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def _checked_socket(host: str, port: int, scheme: str, timeout: float) -> socket.socket:
    """Resolve `host`, connect to the first allowed address, and check the peer really connected."""
    last_error: OSError = AddressRefused(host)
    for family, kind, proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if not address_allowed(ipaddress.ip_address(sockaddr[0]), scheme):
            last_error = AddressRefused(host)
            continue
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
            peer = ipaddress.ip_address(sock.getpeername()[0])
            if not address_allowed(peer, scheme):
                raise AddressRefused(host)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_socket(self.host, self.port, "http", _connect_timeout(self.timeout))


class _CheckedHTTPSConnection(HTTPSConnection):
    # TLS still verifies the certificate against the URL's host name (SNI included).
    def _new_conn(self) -> socket.socket:
        return _checked_socket(self.host, self.port, "https", _connect_timeout(self.timeout))


def _connect_timeout(timeout: object) -> float:
    return timeout if isinstance(timeout, (int, float)) else 5.0


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


def deliver(url: str, body: bytes, headers: dict[str, str], timeout: float) -> bool:
    """POST `body` to `url` under the rules above; True only for a 2xx answer. Never raises for the network."""
    status, _reason = post(url, body, headers, timeout)
    return status is not None and 200 <= status < 300


REFUSED = "adresse refusée (réseau interne ou non autorisé)"


def _refused(exc: BaseException | None) -> bool:
    """Whether urllib3's error wraps our AddressRefused (it wraps connection errors in its own)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, AddressRefused) or any(isinstance(a, AddressRefused) for a in getattr(exc, "args", ())):
            return True
        exc = exc.__cause__ or exc.__context__ or next((a for a in exc.args if isinstance(a, BaseException)), None)
        seen += 1
    return False


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
    """POST `body` to `url` under the rules above: (the answer's status code, None), or (None, why
    in a few words) when nothing was answered. Nothing else of the reply is read. Never raises."""
    parts = urlsplit(url)
    if url_problem(url, production=False) is not None:
        return None, REFUSED
    pool_class = _HTTPSPool if parts.scheme == "https" else _HTTPPool
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    pool = pool_class(parts.hostname, port, timeout=Timeout(connect=min(timeout, 5.0), read=timeout), retries=False)
    try:
        response = pool.urlopen(
            "POST", path, body=body, headers=headers, redirect=False, retries=False, preload_content=False
        )
        status = response.status
        response.release_conn()
        return status, None
    except (HTTPError, OSError, ValueError) as exc:
        return None, REFUSED if _refused(exc) else exc.__class__.__name__
    finally:
        pool.close()
