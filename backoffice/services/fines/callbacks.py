"""The client application's callback: the final state of a payment, POSTed signed, retried with backoff."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import current_app

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.fines import FinePayment
from backoffice.services import outgoing
from backoffice.services.api_clients import sign
from backoffice.services.fines.queries import as_json
from backoffice.services.fines.states import add_event


def send_callback(payment_id: str) -> float | None:
    """POST the final state to the client's callback_url, signed; returns the retry delay or None."""
    config = current_app.config
    payment = db.session.get(FinePayment, payment_id, populate_existing=True)
    if payment is None or payment.callback_status != "EN_ATTENTE" or not payment.callback_url:
        return None
    body = json.dumps(as_json(payment, with_timeline=False), separators=(",", ":"), ensure_ascii=False).encode()
    signature = sign(payment.api_client.signing_secret, body)
    payment.callback_attempts += 1
    db.session.commit()
    headers = {"Content-Type": "application/json", "X-Signature": signature, "X-Paiement-Id": payment.id}
    # services/outgoing.py: checked address, no redirects; only "delivered or not" is kept,
    # never the target's reply (the client reads the timeline: no port scanner).
    delivered = outgoing.deliver(payment.callback_url, body, headers, config["FINES_CALLBACK_TIMEOUT_SECONDS"])
    trace = {"livre": delivered}
    if delivered:
        payment.callback_status = "ENVOYE"
        payment.callback_next_at = None
        add_event(payment, "RAPPEL", "Notification envoyée à l'application.", response=trace)
        db.session.commit()
        return None
    if payment.callback_attempts >= config["FINES_CALLBACK_MAX_ATTEMPTS"]:
        payment.callback_status = "ABANDONNE"
        payment.callback_next_at = None
        add_event(
            payment, "RAPPEL", f"Notification abandonnée après {payment.callback_attempts} essais.", response=trace
        )
        db.session.commit()
        return None
    delay = min(config["FINES_BACKOFF_BASE_SECONDS"] * 2 ** (payment.callback_attempts - 1), 3600.0)
    payment.callback_next_at = utcnow() + timedelta(seconds=delay)
    add_event(
        payment, "RAPPEL", f"Notification non reçue (essai {payment.callback_attempts}) : nouvel essai.", response=trace
    )
    db.session.commit()
    return delay
