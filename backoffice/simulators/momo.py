"""Simulator of the mobile money operator (`MOMO_API_URL`), to the contract in docs/partners/fines-partners.md.

Debits and refunds keyed by the caller's id, with latency, 504s (applied at once, later or
never) and 409 on a repeated id. Its subscribers are the fines simulator's seeded citizens.

Admin endpoints (no latency, no faults):
  GET/POST /_admin/settings     read / change the fault settings (JSON)
  GET      /_admin/stats        per id: POSTs received, times applied, outcome; balances moved
  POST     /_admin/reset        forget everything and seed again
  POST     /_admin/abonnes/<telephone>   {"solde": n} set a subscriber's balance
"""

from __future__ import annotations

from collections import defaultdict

import click
from flask import Flask, request

from backoffice.simulators.fines import (
    Faults,
    FaultyPartner,
    admin_settings_routes,
    citizens,
    fault_options,
    faults_from,
    serve,
)


def create_app(faults: Faults | None = None, seed: int | None = None, citizen_count: int = 500) -> Flask:
    app = Flask("mobile-money")
    partner = FaultyPartner(faults or Faults(), seed)
    state: dict = {}

    def reset() -> None:
        partner.cancel_timers()
        with partner.lock:
            state["balances"] = {c["telephone"]: c["solde"] for c in citizens(citizen_count)}
            state["opening"] = dict(state["balances"])
            state["debits"] = {}  # id → record
            state["refunds"] = {}
            state["posts"] = defaultdict(int)  # id → POSTs received (debits and refunds)
            state["applied"] = defaultdict(int)  # id → times money moved with it

    reset()

    def answer(record: dict) -> dict:
        return {"id": record["id"], "statut": record["statut"], "raison": record["raison"]}

    def settle_debit(debit_id: str, body: dict) -> None:
        """Decide a debit's outcome and move the money (under the lock)."""
        phone, amount = body["telephone"], body["montant"]
        record = state["debits"].setdefault(
            debit_id, {"id": debit_id, "telephone": phone, "montant": amount, "statut": "EN_COURS", "raison": None}
        )
        if phone not in state["balances"]:
            record.update(statut="ECHOUE", raison="COMPTE_INCONNU")
        elif state["balances"][phone] < amount:
            record.update(statut="ECHOUE", raison="SOLDE_INSUFFISANT")
        else:
            state["balances"][phone] -= amount
            state["applied"][debit_id] += 1
            record.update(statut="REUSSI", raison=None)

    @app.post("/debits")
    def debit():
        body = request.get_json(silent=True) or {}
        debit_id, amount = body.get("id"), body.get("montant")
        if (
            not isinstance(debit_id, str)
            or not debit_id
            or not isinstance(body.get("telephone"), str)
            or not isinstance(amount, int)
            or amount <= 0
        ):
            return {"erreur": "REQUETE_INVALIDE"}, 400
        with partner.lock:
            state["posts"][debit_id] += 1

        def apply():
            with partner.lock:
                if debit_id in state["debits"]:
                    return {"erreur": "ID_DUPLIQUE"}, 409
                settle_debit(debit_id, body)
                return answer(state["debits"][debit_id]), 200

        def apply_late():
            # A late write settles its own EN_COURS record, or nothing if the id was used since.
            with partner.lock:
                existing = state["debits"].get(debit_id)
                if existing is None or existing.pop("pending", False):
                    settle_debit(debit_id, body)

        def on_late():
            # Half of the late debits are visible at once as EN_COURS (a repeat gets 409).
            with partner.lock:
                if debit_id not in state["debits"] and partner.random.random() < 0.5:
                    state["debits"][debit_id] = {
                        "id": debit_id,
                        "telephone": body["telephone"],
                        "montant": amount,
                        "statut": "EN_COURS",
                        "raison": None,
                        "pending": True,
                    }

        return partner.write(apply, on_late, apply_late)

    @app.get("/debits/<debit_id>")
    def debit_status(debit_id: str):
        def handler():
            with partner.lock:
                record = state["debits"].get(debit_id)
                return (answer(record), 200) if record else ({"erreur": "INCONNU"}, 404)

        return partner.read(handler)

    @app.post("/remboursements")
    def refund():
        body = request.get_json(silent=True) or {}
        refund_id, debit_id, amount = body.get("id"), body.get("debit_id"), body.get("montant")
        if not isinstance(refund_id, str) or not refund_id or not isinstance(amount, int) or amount <= 0:
            return {"erreur": "REQUETE_INVALIDE"}, 400
        with partner.lock:
            state["posts"][refund_id] += 1

        def apply():
            with partner.lock:
                if refund_id in state["refunds"]:
                    return {"erreur": "ID_DUPLIQUE"}, 409
                record = {"id": refund_id, "debit_id": debit_id, "montant": amount, "statut": "ECHOUE", "raison": None}
                state["refunds"][refund_id] = record
                original = state["debits"].get(debit_id)
                refunded = sum(
                    r["montant"]
                    for r in state["refunds"].values()
                    if r["debit_id"] == debit_id and r["statut"] == "REUSSI"
                )
                if original is None or original["statut"] != "REUSSI":
                    record["raison"] = "DEBIT_INCONNU"
                elif refunded + amount > original["montant"]:
                    record["raison"] = "MONTANT_INVALIDE"
                else:
                    state["balances"][original["telephone"]] += amount
                    state["applied"][refund_id] += 1
                    record.update(statut="REUSSI", telephone=original["telephone"])
                return answer(record), 200

        return partner.write(apply)

    @app.get("/remboursements/<refund_id>")
    def refund_status(refund_id: str):
        def handler():
            with partner.lock:
                record = state["refunds"].get(refund_id)
                return (answer(record), 200) if record else ({"erreur": "INCONNU"}, 404)

        return partner.read(handler)

    admin_settings_routes(app, partner)

    @app.get("/_admin/stats")
    def stats():
        with partner.lock:

            def view(records: dict) -> dict:
                return {
                    rid: {
                        "posts": state["posts"].get(rid, 0),
                        "applied": state["applied"].get(rid, 0),
                        "statut": r["statut"],
                        "raison": r["raison"],
                        "montant": r["montant"],
                        "telephone": r.get("telephone"),
                    }
                    for rid, r in records.items()
                }

            moved = {
                phone: balance - state["opening"].get(phone, 0)
                for phone, balance in state["balances"].items()
                if balance != state["opening"].get(phone, 0)
            }
            return {
                "debits": view(state["debits"]),
                "refunds": view(state["refunds"]),
                "posts": dict(state["posts"]),
                "balance_changes": moved,
            }, 200

    @app.post("/_admin/reset")
    def reset_view():
        reset()
        return {"ok": True}, 200

    @app.post("/_admin/abonnes/<telephone>")
    def set_balance(telephone: str):
        body = request.get_json(force=True) or {}
        with partner.lock:
            state["balances"][telephone] = int(body.get("solde", 0))
            state["opening"][telephone] = state["balances"][telephone]
        return {"telephone": telephone, "solde": state["balances"][telephone]}, 200

    app.extensions["partner"] = partner
    return app


@click.command("momo", help="Simulateur de l'opérateur de mobile money (MOMO_API_URL).")
@fault_options
def command(port: int, host: str, seed: int | None, citizens: int, quiet: bool, **options) -> None:
    serve(create_app(faults_from(options), seed, citizens), host, port, quiet)
