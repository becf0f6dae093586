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
from backoffice.api.openapi import documented
from backoffice.api.schemas import FinesPaymentRequestSchema, FinesPaymentSchema, FinesReceiptSchema
from backoffice.extensions import db
from backoffice.models.fines import FinePayment
from backoffice.services.api_clients import ApiIdentity
from backoffice.services.fines import payment_requests, queries


@bp.route("/amendes/payments/", methods=["POST"])
@documented(
    summary="Payer des amendes par mobile money",
    scope="fines:write",
    tag="Amendes",
    description="Répond 202 aussitôt ; la saga (vérification, débit, marquage) tourne dans un worker.",
    body=FinesPaymentRequestSchema,
    responses={202: (FinesReceiptSchema, "Paiement accepté"), 200: (FinesReceiptSchema, "Paiement déjà reçu")},
    errors=(409,),
    idempotent_post=True,
)
@api_key_required("fines:write")
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
@api_key_required("fines:write")
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
@documented(
    summary="Suivre un paiement d'amendes",
    scope="fines:write",
    tag="Amendes",
    responses={200: (FinesPaymentSchema, "Statut, montants, amendes et étapes")},
)
@api_key_required("fines:write")
def fines_payment(client: ApiIdentity, payment_id: str):
    """A payment of the client's organisation: status, amounts, fines and timeline."""
    payment = db.session.get(FinePayment, payment_id)
    if payment is None or payment.organisation_id != client.organisation_id:
        raise ApiError(404, "PAIEMENT_INCONNU", "Paiement introuvable.")
    return queries.as_json(payment)
