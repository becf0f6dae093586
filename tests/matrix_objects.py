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
    from backoffice.services.api_clients import ApiIdentity
    from backoffice.services.fines import payment_requests

    row = db.session.scalar(select(ApiClient).where(ApiClient.organisation_id == demo["orgs"]["CNSS"]))
    client = ApiIdentity(row.id, row.organisation_id, row.name)
    request = payment_requests.PaymentRequest("MATRIX-1", "22997000001", ["AM-2025-000101"], 10000, "XOF", None)
    return payment_requests.submit_payment(client, request, None, 600).id


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
    # Dashboards area: a CNSS beneficiary list with one entry, and a payee provider.
    "list_id": lambda demo: _cnss_list(demo).id,
    "entry_id": lambda demo: _cnss_entry(demo).id,
    "provider_id": lambda demo: _provider().id,
}

# Parameters that name objects owned by an organisation (another organisation gets 404).
ORG_SCOPED_PARAMS = {"account_id", "list_id", "entry_id"}


def _cnss_draft_batch(demo: dict) -> int:
    """A CNSS draft batch of two rows, uploaded by gestionnaire 1 through the real service."""
    import io

    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.models.batches import Batch
    from backoffice.services.bulk.importing import create_from_upload

    # Get or create: batch_id and row_id name the same batch when a route has both.
    existing = db.session.scalar(
        select(Batch.id).where(Batch.organisation_id == demo["orgs"]["CNSS"], Batch.label == "Matrice")
    )
    if existing is not None:
        return existing
    actor = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
    content = (
        b"type_id,valeur_id,devise,montant,nom_complet\n"
        b"PERSONAL_ID,1234567890,XOF,1000,Awa\nPERSONAL_ID,1234567891,XOF,2000,Koffi\n"
    )
    batch = create_from_upload(actor, demo["accounts"]["ACC-CNSS-001"], "Matrice", io.BytesIO(content), "matrice.csv")
    return batch.id


def _cnss_batch_row(demo: dict) -> int:
    """The first row of the batch that the batch_id builder returns."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.batches import BatchRow

    batch_id = _cnss_draft_batch(demo)
    return db.session.scalar(
        select(BatchRow.id).where(BatchRow.batch_id == batch_id).order_by(BatchRow.line_number).limit(1)
    )


BUILDERS["batch_id"] = _cnss_draft_batch
BUILDERS["row_id"] = _cnss_batch_row
ORG_SCOPED_PARAMS.add("batch_id")
ORG_SCOPED_PARAMS.add("row_id")
ORG_SCOPED_PARAMS.add("payment_id")


def _cnss_list(demo):
    """Get or create the CNSS list that list_id and entry_id share."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.lists import BeneficiaryList

    lst = db.session.scalar(select(BeneficiaryList).where(BeneficiaryList.name == "Matrice"))
    if lst is None:
        lst = BeneficiaryList(organisation_id=demo["orgs"]["CNSS"], name="Matrice", currency="XOF")
        db.session.add(lst)
        db.session.flush()
    return lst


def _cnss_entry(demo):
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.lists import BeneficiaryEntry

    lst = _cnss_list(demo)
    entry = db.session.scalar(select(BeneficiaryEntry).where(BeneficiaryEntry.list_id == lst.id))
    if entry is None:
        entry = BeneficiaryEntry(
            list_id=lst.id, party_id_type="MSISDN", party_id_value="22997000001", name="Test", default_amount=1000
        )
        db.session.add(entry)
        db.session.flush()
    return entry


def _provider():
    from backoffice.extensions import db
    from backoffice.models.providers import PayeeProvider

    provider = PayeeProvider(fsp_id="matrix-fsp", name="Fournisseur matrice")
    db.session.add(provider)
    db.session.flush()
    return provider
