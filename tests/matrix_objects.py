"""Objects of the CNSS organisation that the role matrix puts into URLs, by parameter name.

An area that adds a route with a new URL parameter adds a builder here; a parameter
without one fails the role matrix test.
"""

from __future__ import annotations

from collections.abc import Callable


def _fine_payment(demo: dict) -> str:
    """A fines payment of CNSS received through the demo API client (status RECU)."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.fines import ApiClient
    from backoffice.services import fines as fines_service
    from backoffice.services.api_clients import ApiIdentity

    row = db.session.scalar(select(ApiClient).where(ApiClient.organisation_id == demo["orgs"]["CNSS"]))
    client = ApiIdentity(row.id, row.organisation_id, row.name)
    request = fines_service.PaymentRequest("MATRIX-1", "22997000001", ["AM-2025-000101"], 10000, "XOF", None)
    payment, _ = fines_service.submit_payment(client, request, None, 600)
    db.session.flush()
    return payment.id


def _api_client(demo: dict) -> int:
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.fines import ApiClient

    return db.session.scalar(select(ApiClient.id).where(ApiClient.organisation_id == demo["orgs"]["CNSS"]))


# Each builder gets the demo ids (see conftest.demo) inside an app context and returns an id.
BUILDERS: dict[str, Callable[[dict], object]] = {
    "org_id": lambda demo: demo["orgs"]["CNSS"],
    "user_id": lambda demo: demo["users"]["gestionnaire1@cnss.bj"],
    "account_id": lambda demo: demo["accounts"]["ACC-CNSS-001"],
    "payment_id": _fine_payment,
    "client_id": _api_client,
}

# Parameters that name objects owned by an organisation (another organisation gets 404).
ORG_SCOPED_PARAMS = {"account_id", "payment_id"}
