"""Webhook endpoints of the client's organisation, and the log of their deliveries."""

from __future__ import annotations

from backoffice.api import bp
from backoffice.api import schemas as s
from backoffice.api.auth import api_key_required
from backoffice.api.batches import V1, _json_body
from backoffice.api.errors import from_service_error, not_found
from backoffice.api.idempotency import idempotent
from backoffice.api.openapi import documented, load_body, load_query
from backoffice.extensions import db
from backoffice.models.api import WebhookDelivery, WebhookEndpoint
from backoffice.services import ServiceError, api_clients, webhooks
from backoffice.services.api_batches import iso
from backoffice.services.api_clients import ApiIdentity

TAG = "Webhooks"


def endpoint_json(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "evenements": list(endpoint.events or webhooks.SUBSCRIBABLE_EVENTS),
        "cree_le": iso(endpoint.created_at),
    }


def delivery_json(d: WebhookDelivery) -> dict:
    return {
        "id": d.id,
        "evenement": d.event_type,
        "event_id": d.event_id,
        "url": d.url,
        "statut": d.status,
        "essais": d.attempts,
        "dernier_code": d.last_status_code,
        "derniere_erreur": d.last_error,
        "prochain_essai": iso(d.next_attempt_at),
        "cree_le": iso(d.created_at),
    }


def _endpoint(client: ApiIdentity, endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.organisation_id != client.organisation_id or not endpoint.active:
        raise not_found("Webhook introuvable.", "WEBHOOK_INTROUVABLE")
    return endpoint


@bp.route(f"{V1}/webhooks", methods=["POST"])
@documented(
    summary="Enregistrer un webhook",
    scope="batches:read",
    tag=TAG,
    description=(
        "L'adresse reçoit les événements de l'organisation choisis dans `evenements` (par défaut tous : "
        "batch.submitted, batch.approved, batch.rejected, batch.completed, fine_payment.final), signés avec le "
        "secret de ce client. Les adresses internes (boucle locale, réseaux privés) sont refusées, à "
        "l'enregistrement et à chaque connexion."
    ),
    body=s.WebhookCreateSchema,
    responses={201: (s.WebhookSchema, "Webhook enregistré"), 200: (s.WebhookSchema, "Réponse rejouée")},
    idempotent_post=True,
)
@api_key_required("batches:read")
@idempotent
def create_webhook(client: ApiIdentity):
    data = load_body(s.WebhookCreateSchema, _json_body())
    try:
        endpoint = webhooks.create_endpoint(
            client.id,
            api_clients.technical_user(client.id),
            data["url"],
            data.get("description", ""),
            data.get("evenements"),
        )
    except ServiceError as exc:
        raise from_service_error(exc) from None
    db.session.commit()
    return endpoint_json(endpoint), 201


@bp.route(f"{V1}/webhooks", methods=["GET"])
@documented(
    summary="Webhooks de l'organisation",
    scope="batches:read",
    tag=TAG,
    responses={200: (s.WebhookListSchema, "Les webhooks actifs")},
)
@api_key_required("batches:read")
def list_webhooks(client: ApiIdentity):
    return {"webhooks": [endpoint_json(e) for e in webhooks.endpoints_of(client.organisation_id)]}


@bp.route(f"{V1}/webhooks/<int:endpoint_id>", methods=["DELETE"])
@documented(summary="Supprimer un webhook", scope="batches:read", tag=TAG, responses={204: (None, "Supprimé")})
@api_key_required("batches:read")
def delete_webhook(client: ApiIdentity, endpoint_id: int):
    endpoint = _endpoint(client, endpoint_id)
    webhooks.delete_endpoint(api_clients.technical_user(client.id), endpoint)
    db.session.commit()
    return "", 204


@bp.route(f"{V1}/webhooks/<int:endpoint_id>/test", methods=["POST"])
@documented(
    summary="Envoyer un événement de test",
    scope="batches:read",
    tag=TAG,
    responses={202: (s.DeliverySchema, "Livraison programmée")},
    idempotent_post=True,
)
@api_key_required("batches:read")
@idempotent
def test_webhook(client: ApiIdentity, endpoint_id: int):
    endpoint = _endpoint(client, endpoint_id)
    delivery = webhooks.send_test(api_clients.technical_user(client.id), endpoint)
    db.session.commit()
    return delivery_json(delivery), 202


@bp.route(f"{V1}/webhooks/deliveries", methods=["GET"])
@documented(
    summary="Journal des livraisons",
    scope="batches:read",
    tag=TAG,
    description="Statut, nombre d'essais, dernier code reçu ; les plus récentes d'abord.",
    query=s.PageQuery,
    responses={200: (s.DeliveryListSchema, "Une page de livraisons")},
)
@api_key_required("batches:read")
def list_deliveries(client: ApiIdentity):
    from sqlalchemy import func, select

    query = load_query(s.PageQuery)
    stmt = webhooks.deliveries_query(client.organisation_id)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(stmt.limit(query["limit"]).offset(query["offset"]))
    return {
        "total": int(total or 0),
        "limit": query["limit"],
        "offset": query["offset"],
        "livraisons": [delivery_json(d) for d in items],
    }


@bp.route(f"{V1}/webhooks/deliveries/<int:delivery_id>/redeliver", methods=["POST"])
@documented(
    summary="Renvoyer une livraison",
    scope="batches:read",
    tag=TAG,
    responses={202: (s.DeliverySchema, "Livraison reprogrammée")},
    idempotent_post=True,
)
@api_key_required("batches:read")
@idempotent
def redeliver(client: ApiIdentity, delivery_id: int):
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.organisation_id != client.organisation_id:
        raise not_found("Livraison introuvable.", "LIVRAISON_INTROUVABLE")
    webhooks.redeliver(api_clients.technical_user(client.id), delivery)
    db.session.commit()
    return delivery_json(delivery), 202
