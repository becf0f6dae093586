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

    client = db.session.scalar(select(ApiClient).where(ApiClient.organisation_id == demo["orgs"]["CNSS"]))
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
ORG_SCOPED_PARAMS = {"account_id"}


def _cnss_draft_batch(demo: dict) -> int:
    """A CNSS draft batch of two rows, uploaded by gestionnaire 1 through the real service."""
    import io

    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services.batches import create_from_upload

    actor = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
    content = (
        b"type_id,valeur_id,devise,montant,nom_complet\n"
        b"PERSONAL_ID,1234567890,XOF,1000,Awa\nPERSONAL_ID,1234567891,XOF,2000,Koffi\n"
    )
    batch = create_from_upload(actor, demo["accounts"]["ACC-CNSS-001"], "Matrice", io.BytesIO(content), "matrice.csv")
    return batch.id


BUILDERS["batch_id"] = _cnss_draft_batch
ORG_SCOPED_PARAMS.add("batch_id")
ORG_SCOPED_PARAMS.add("payment_id")
