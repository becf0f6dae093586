"""Simulator of the fines registry (`FINES_API_URL`), to the contract in docs/partners/fines-partners.md.

Slow and unreliable on purpose, with every fault adjustable: latency, 504s (applied at
once, later or never), 409 on a repeated id. It also holds what both fines simulators
share: the fault settings, the seeded citizens and the threaded server.

Admin endpoints (no latency, no faults), for tests and benchmarks:
  GET/POST /_admin/settings       read / change the fault settings (JSON)
  GET      /_admin/stats          per payment id: how many POSTs, how many times applied
  POST     /_admin/reset          forget everything and seed again
  POST     /_admin/amendes/<n>/payer   a fine paid by another channel (for DEJA_PAYEE)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import click
from flask import Flask, jsonify, request

# Seeded citizens ------------------------------------------------------------------------

MOTIFS = [
    "Excès de vitesse",
    "Stationnement interdit",
    "Défaut de port de casque",
    "Franchissement de feu rouge",
    "Usage du téléphone au volant",
    "Défaut d'assurance",
]

# Behaviour of citizen i, by i % 10 (the tests rely on it):
#   0 → one of the fines is already PAYEE (a request for both is REJETE at verification)
#   3 → the fines are paid at the counter right after the registry is first asked about them
#       (the debit succeeds, the marking answers DEJA_PAYEE → refund)
#   5 → the mobile money balance is too low (debit ECHOUE SOLDE_INSUFFISANT)
#   other → two unpaid fines and money enough
ALREADY_PAID, RACE, LOW_BALANCE = 0, 3, 5


def phone_of(i: int) -> str:
    return f"22997{i:06d}"


def citizens(count: int) -> list[dict]:
    """The seeded citizens: phone, mobile money balance, and their fines (deterministic)."""
    people = []
    for i in range(1, count + 1):
        kind = i % 10
        fines = []
        for k in (1, 2):
            fines.append(
                {
                    "numero": f"AM-2025-{i:04d}{k:02d}",
                    "telephone": phone_of(i),
                    "montant": 5000 * (k + i % 3),
                    "devise": "XOF",
                    "statut": "PAYEE" if kind == ALREADY_PAID and k == 2 else "IMPAYEE",
                    "paiement_id": f"GUICHET-{i:04d}{k:02d}" if kind == ALREADY_PAID and k == 2 else None,
                    "motif": MOTIFS[(i + k) % len(MOTIFS)],
                    "date": f"2025-{(i % 12) + 1:02d}-{(i % 27) + 1:02d}",
                    "race": kind == RACE,
                }
            )
        people.append({"telephone": phone_of(i), "solde": 100 if kind == LOW_BALANCE else 10_000_000, "amendes": fines})
    return people


# Faults -----------------------------------------------------------------------------------


@dataclass
class Faults:
    """How badly the partner behaves; every field can be changed while it runs."""

    latency_min: float = 0.1
    latency_max: float = 10.0
    fail_rate: float = 0.10  # share of calls answering 504
    late_share: float = 0.4  # of the writes behind a 504: share applied later
    lost_share: float = 0.2  # … share never applied (the rest is applied at once)
    late_max: float = 60.0  # a late write is applied within this many seconds

    def update(self, values: dict) -> None:
        for f in fields(self):
            if f.name in values:
                setattr(self, f.name, float(values[f.name]))


class FaultyPartner:
    """Latency, 504s and late writes around the handlers of a simulator."""

    def __init__(self, faults: Faults, seed: int | None = None) -> None:
        self.faults = faults
        self.random = random.Random(seed)
        self.lock = threading.RLock()
        self.timers: list[threading.Timer] = []

    def _roll(self) -> float:
        with self.lock:
            return self.random.random()

    def _latency(self) -> None:
        with self.lock:
            low, high = self.faults.latency_min, max(self.faults.latency_min, self.faults.latency_max)
            delay = self.random.uniform(low, high)
        time.sleep(delay)

    def read(self, handler: Callable[[], tuple]):
        """A GET: latency, sometimes a 504, otherwise the handler's answer."""
        self._latency()
        if self._roll() < self.faults.fail_rate:
            return gateway_timeout()
        return handler()

    def write(
        self,
        apply: Callable[[], tuple],
        on_late: Callable[[], None] | None = None,
        apply_late: Callable[[], object] | None = None,
    ):
        """A keyed write: latency, then either the answer or a 504 applied at once, later or never."""
        self._latency()
        if self._roll() >= self.faults.fail_rate:
            return apply()
        fate = self._roll()
        if fate < self.faults.late_share:
            if on_late is not None:
                on_late()
            with self.lock:
                delay = self.random.uniform(0, self.faults.late_max)
            timer = threading.Timer(delay, apply_late or apply)
            timer.daemon = True
            timer.start()
            self.timers.append(timer)
        elif fate >= self.faults.late_share + self.faults.lost_share:
            apply()
        return gateway_timeout()

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


def gateway_timeout():
    return {"erreur": "GATEWAY_TIMEOUT"}, 504


def admin_settings_routes(app: Flask, partner: FaultyPartner) -> None:
    """GET/POST /_admin/settings on a simulator app."""

    @app.get("/_admin/settings")
    def settings_read():
        return jsonify(asdict(partner.faults))

    @app.post("/_admin/settings")
    def settings_write():
        partner.faults.update(request.get_json(force=True) or {})
        return jsonify(asdict(partner.faults))


def serve(app: Flask, host: str, port: int, quiet: bool = False) -> None:
    """A threaded server: many slow requests at once, each on its own thread."""
    from werkzeug.serving import make_server

    if quiet:  # no access log (benchmarks)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = make_server(host, port, app, threaded=True)
    server.daemon_threads = True
    click.echo(f"Simulateur {app.name} : http://{host}:{port}")
    server.serve_forever()


def fault_options(command):
    """The CLI options every simulator shares (fault settings and seed)."""
    options = [
        click.option("--port", type=int, required=True),
        click.option("--host", default="127.0.0.1"),
        click.option("--latency-min", type=float, default=0.1, show_default=True, help="seconds"),
        click.option("--latency-max", type=float, default=10.0, show_default=True, help="seconds"),
        click.option("--fail-rate", type=float, default=0.10, show_default=True, help="share of 504 answers"),
        click.option("--late-share", type=float, default=0.4, show_default=True, help="504 writes applied later"),
        click.option("--lost-share", type=float, default=0.2, show_default=True, help="504 writes never applied"),
        click.option("--late-max", type=float, default=60.0, show_default=True, help="late writes within (s)"),
        click.option("--seed", type=int, default=None, help="random seed"),
        click.option("--citizens", type=int, default=500, show_default=True, help="seeded citizens"),
        click.option("--quiet", is_flag=True, help="no access log"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def faults_from(options: dict) -> Faults:
    return Faults(
        latency_min=options["latency_min"],
        latency_max=options["latency_max"],
        fail_rate=options["fail_rate"],
        late_share=options["late_share"],
        lost_share=options["lost_share"],
        late_max=options["late_max"],
    )


# The fines registry --------------------------------------------------------------------------


def create_app(faults: Faults | None = None, seed: int | None = None, citizen_count: int = 500) -> Flask:
    app = Flask("registre-amendes")
    partner = FaultyPartner(faults or Faults(), seed)
    state: dict = {}

    def reset() -> None:
        partner.cancel_timers()
        with partner.lock:
            state["fines"] = {f["numero"]: dict(f) for c in citizens(citizen_count) for f in c["amendes"]}
            state["posts"] = defaultdict(int)  # paiement_id → POSTs received
            state["applied"] = defaultdict(int)  # paiement_id → times a fine was marked with it
            state["numero_of"] = {}

    reset()

    def public(fine: dict) -> dict:
        return {k: fine[k] for k in ("numero", "telephone", "montant", "devise", "statut", "paiement_id")}

    @app.get("/amendes")
    def by_phone():
        phone = request.args.get("telephone", "")

        def handler():
            with partner.lock:
                found = [
                    {k: f[k] for k in ("numero", "montant", "devise", "statut", "motif", "date")}
                    for f in state["fines"].values()
                    if f["telephone"] == phone
                ]
            return {"telephone": phone, "amendes": found}, 200

        return partner.read(handler)

    @app.get("/amendes/<numero>")
    def status(numero: str):
        def handler():
            with partner.lock:
                fine = state["fines"].get(numero)
                if fine is None:
                    return {"erreur": "AMENDE_INCONNUE"}, 404
                answer = public(fine)
                if fine["race"] and fine["statut"] == "IMPAYEE":
                    # Paid at a counter just after the citizen's app looked it up.
                    fine.update(statut="PAYEE", paiement_id=f"GUICHET-{numero}", race=False)
            return answer, 200

        return partner.read(handler)

    @app.post("/amendes/<numero>/paiements")
    def mark(numero: str):
        body = request.get_json(silent=True) or {}
        paiement_id, montant = body.get("paiement_id"), body.get("montant")
        if not isinstance(paiement_id, str) or not paiement_id or not isinstance(montant, int):
            return {"erreur": "REQUETE_INVALIDE"}, 400
        with partner.lock:
            state["posts"][paiement_id] += 1

        def apply():
            with partner.lock:
                fine = state["fines"].get(numero)
                if fine is None:
                    return {"erreur": "AMENDE_INCONNUE"}, 404
                if fine["statut"] == "PAYEE":
                    if fine["paiement_id"] == paiement_id:
                        return {"numero": numero, "statut": "PAYEE", "paiement_id": paiement_id}, 200
                    return {"erreur": "DEJA_PAYEE", "paiement_id": fine["paiement_id"]}, 409
                if montant != fine["montant"]:
                    return {"erreur": "MONTANT_INCORRECT", "montant_attendu": fine["montant"]}, 422
                fine.update(statut="PAYEE", paiement_id=paiement_id, race=False)
                state["applied"][paiement_id] += 1
                state["numero_of"][paiement_id] = numero
                return {"numero": numero, "statut": "PAYEE", "paiement_id": paiement_id}, 200

        return partner.write(apply)

    admin_settings_routes(app, partner)

    @app.get("/_admin/stats")
    def stats():
        with partner.lock:
            ids = set(state["posts"]) | set(state["applied"])
            marks = {
                pid: {
                    "posts": state["posts"].get(pid, 0),
                    "applied": state["applied"].get(pid, 0),
                    "numero": state["numero_of"].get(pid),
                }
                for pid in ids
            }
            fines = {n: {"statut": f["statut"], "paiement_id": f["paiement_id"]} for n, f in state["fines"].items()}
        return {"marks": marks, "fines": fines}, 200

    @app.post("/_admin/reset")
    def reset_view():
        reset()
        return {"ok": True}, 200

    @app.post("/_admin/amendes/<numero>/payer")
    def paid_elsewhere(numero: str):
        with partner.lock:
            fine = state["fines"].get(numero)
            if fine is None:
                return {"erreur": "AMENDE_INCONNUE"}, 404
            fine.update(statut="PAYEE", paiement_id=f"GUICHET-{numero}", race=False)
            return public(fine), 200

    app.extensions["partner"] = partner
    return app


@click.command("fines", help="Simulateur du registre des amendes (FINES_API_URL).")
@fault_options
def command(port: int, host: str, seed: int | None, citizens: int, quiet: bool, **options) -> None:
    serve(create_app(faults_from(options), seed, citizens), host, port, quiet)
