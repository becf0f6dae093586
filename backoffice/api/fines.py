"""The fines API: a client application submits a payment of fines and follows it.

The API answers in milliseconds: it checks the key and the body and stores the payment
once; a worker's dispatcher picks it up within a fraction of a second and runs the saga.
Partners are only ever called by workers.
"""

from __future__ import annotations

from flask import current_app, request

from backoffice.api import bp
from backoffice.api.auth import api_key_required
from backoffice.api.errors import ApiError
from backoffice.extensions import db
from backoffice.models.fines import FinePayment
from backoffice.services import throttle
from backoffice.services.api_clients import ApiIdentity
from backoffice.services.fines import payment_requests, queries


def _too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "TROP_DE_REQUETES",
        f"Trop de requêtes pour cette clé d'API : réessayez dans {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )


# Per API key, counted atomically in Redis (services/throttle.py): API_RATE_LIMIT_PER_MINUTE.
per_key_limit = throttle.limit_per_caller("api", "API_RATE_LIMIT_PER_MINUTE", 60, _too_many_requests)


@bp.route("/amendes/payments/", methods=["POST"])
@api_key_required("fines:write")
@per_key_limit
def create_fines_payment(client: ApiIdentity):
    """Accept a fines payment: 202 at once, the saga runs in a worker."""
    config = current_app.config
    max_bytes = config["FINES_API_MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(
            413, "REQUETE_TROP_VOLUMINEUSE", f"Le corps de la requête dépasse la taille maximale ({max_bytes} octets)."
        )
    raw = request.stream.read(max_bytes + 1)
    data = payment_requests.parse_body(raw, request.headers.get("Content-Type"), max_bytes)
    payment_request = payment_requests.validate_request(data, config["FINES_CURRENCIES"], config["FINES_API_MAX_FINES"])
    key = request.headers.get("Idempotency-Key")
    payment_requests.check_idempotency_key(key)
    receipt = payment_requests.submit_payment(client, payment_request, key, config["FINES_BUDGET_SECONDS"])
    lien = queries.payment_link(receipt.id)
    response = current_app.json.response(
        {"id": receipt.id, "reference": receipt.reference, "statut": receipt.statut, "lien": lien}
    )
    response.status_code = 202 if receipt.created else 200
    response.headers["Location"] = lien
    if not receipt.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.route("/amendes/payments/", methods=["GET"])
@api_key_required("fines:read")
def fines_payment_by_reference(client: ApiIdentity):
    """The payment the client sent with its own `reference` (for an application that lost the id)."""
    reference = request.args.get("reference", "").strip()
    if not reference:
        raise ApiError(400, "REFERENCE_OBLIGATOIRE", "Le paramètre « reference » est obligatoire.", champ="reference")
    payment = queries.payment_by_reference(client.organisation_id, reference)
    if payment is None:
        raise ApiError(404, "PAIEMENT_INCONNU", f"Aucun paiement de référence « {reference[:64]} ».")
    return queries.as_json(payment)


@bp.route("/amendes/payments/<payment_id>/", methods=["GET"])
@api_key_required("fines:read")
@per_key_limit
def fines_payment(client: ApiIdentity, payment_id: str):
    """A payment of the client's organisation: status, amounts, fines and timeline."""
    payment = db.session.get(FinePayment, payment_id)
    if payment is None or payment.organisation_id != client.organisation_id:
        raise ApiError(404, "PAIEMENT_INCONNU", "Paiement introuvable.")
    return queries.as_json(payment)
