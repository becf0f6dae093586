"""Test data, in one place: builders of batches, rows, fines payments and lists, and their read-back.

Builders run inside an app context. Those that go through a real service (import_bytes,
submit_fine_payment, the role matrix's draft batch) check what a user would; the others
write rows straight into the tables to set up a state that would take many steps to reach.
BUILDERS maps each URL parameter of the role matrix to the builder of its object.
"""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Callable

from sqlalchemy import func, insert, select

from backoffice.extensions import db
from backoffice.models import Account, LedgerEntry, User
from backoffice.models.batches import Batch, BatchRow, BatchStatus, RowStatus
from backoffice.services import ledger
from tests.support import post

# Users and payment files ---------------------------------------------------------------


def user(email: str) -> User:
    return db.session.scalar(db.select(User).where(User.email == email))


PAYMENT_LIST = (
    b"type_id,valeur_id,devise,montant,nom_complet\n"
    b"PERSONAL_ID,1000000001,XOF,10000,Awa Dossou\n"
    b"PERSONAL_ID,1000000002,XOF,20000,Koffi Agossou\n"
    b"MSISDN,22997000003,XOF,5000,R\xc3\xa9mi Houngb\xc3\xa9dji\n"
)


def msisdns(count: int, start: int = 1, prefix: str = "2299700") -> list[str]:
    return [f"{prefix}{n:04d}" for n in range(start, start + count)]


# Batches -----------------------------------------------------------------------------------


def import_bytes(
    demo: dict,
    content: bytes,
    account: str = "ACC-CNSS-001",
    email: str = "gestionnaire1@cnss.bj",
    label: str = "Test",
    file_name: str = "test.csv",
) -> int:
    """Import a file through the real service as `email` and commit; returns the batch id."""
    from backoffice.services.bulk.importing import create_from_upload

    try:
        batch = create_from_upload(user(email), demo["accounts"][account], label, io.BytesIO(content), file_name)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return batch.id


def add_batch(
    demo: dict,
    label: str = "Lot de test",
    status: str = "DRAFT",
    by: str = "gestionnaire1@cnss.bj",
    org: str = "CNSS",
    **fields,
) -> Batch:
    """A batch written straight to the table (no import, no ledger entry); flushed, not committed.

    CNSS batches pay from ACC-CNSS-001 in XOF, NEXT batches from ACC-NEXT-001 in MRU; a batch
    past DRAFT counts as submitted by its uploader.
    """
    user_id = demo["users"][by]
    batch = Batch(
        organisation_id=demo["orgs"][org],
        account_id=demo["accounts"]["ACC-CNSS-001" if org == "CNSS" else "ACC-NEXT-001"],
        reference=f"LOT-{uuid.uuid4().hex[:10]}",
        label=label,
        status=status,
        currency="XOF" if org == "CNSS" else "MRU",
        created_by_id=user_id,
        submitted_by_id=user_id if status != "DRAFT" else None,
        **fields,
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def add_rows(batch: Batch, rows: list[dict]) -> None:
    """Rows of `batch` written straight to the table, each a dict of the columns that matter.

    Unless given, row i is line i + 2, PENDING, paying MSISDN 2299700000<i> in the batch's
    currency under its own transferId.
    """
    for i, values in enumerate(rows):
        defaults = {
            "line_number": i + 2,
            "status": RowStatus.PENDING.value,
            "party_id_type": "MSISDN",
            "party_id_value": f"2299700000{i}",
            "currency": batch.currency,
            "transfer_id": str(uuid.uuid4()),
        }
        db.session.add(BatchRow(batch_id=batch.id, **{**defaults, **values}))


_numbers = itertools.count(1)


def make_approved_batch(
    identifiers: list[str],
    amount: int | list[int] = 1000,
    account_code: str = "ACC-CNSS-001",
    uploader: str = "gestionnaire1@cnss.bj",
    approver: str = "gestionnaire2@cnss.bj",
    skipped: int = 0,
    id_type: str = "MSISDN",
) -> int:
    """An APPROVED batch, as approval leaves it; returns its id (commits).

    Rows PENDING with their own transferId, `skipped` SKIPPED rows after them, the total
    reserved on the payer account: processing can be tested without upload and approval.
    """
    account = db.session.scalar(select(Account).where(Account.account_id == account_code))
    user_id = db.session.scalar(select(User.id).where(User.email == uploader))
    approver_id = db.session.scalar(select(User.id).where(User.email == approver))
    amounts = amount if isinstance(amount, list) else [amount] * len(identifiers)
    number = next(_numbers)
    reference = f"LOT-TEST-{uuid.uuid4().hex[:6].upper()}-{number:04d}"
    total = sum(amounts)
    batch = Batch(
        organisation_id=account.organisation_id,
        account_id=account.id,
        reference=reference,
        label=f"Lot de test {number}",
        status=BatchStatus.APPROVED.value,
        currency=account.currency,
        file_name="test.csv",
        file_format="standard",
        row_count=len(identifiers) + skipped,
        valid_count=len(identifiers),
        invalid_count=skipped,
        total_amount=total,
        exclude_invalid=bool(skipped),
        reserved_amount=total,
        created_by_id=user_id,
        submitted_by_id=user_id,
        approved_by_id=approver_id,
    )
    db.session.add(batch)
    db.session.flush()
    common = {"batch_id": batch.id, "currency": account.currency, "party_id_type": id_type, "fee": 0}
    common.update(attempts=0, status_checks=0, settled=False, note="", source_reference="")
    rows = [
        {
            **common,
            "line_number": i + 2,
            "status": RowStatus.PENDING.value,
            "party_id_value": value,
            "amount": row_amount,
            "name": f"Bénéficiaire {i + 1}",
            "transfer_id": str(uuid.uuid4()),
            "home_transaction_id": f"{reference}-{i + 2}",
        }
        for i, (value, row_amount) in enumerate(zip(identifiers, amounts, strict=True))
    ]
    rows += [
        {
            **common,
            "line_number": len(identifiers) + 2 + i,
            "status": RowStatus.SKIPPED.value,
            "party_id_value": "abc",
            "amount": None,
            "name": "",
            "transfer_id": str(uuid.uuid4()),
            "home_transaction_id": f"{reference}-skipped-{i}",
            "errors": [{"field": "amount", "message": "montant illisible"}],
        }
        for i in range(skipped)
    ]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(BatchRow), rows[start : start + 5000])
    ledger.reserve(account.id, total, reference, note="Approbation du lot (test)")
    db.session.commit()
    return batch.id


# Reading back ------------------------------------------------------------------------------


def fresh_batch(batch_id: int) -> Batch:
    """The batch as the database has it now (the session's cached objects are expired)."""
    db.session.expire_all()
    return db.session.get(Batch, batch_id)


def rows_of(batch_id: int) -> list[BatchRow]:
    return list(
        db.session.scalars(db.select(BatchRow).where(BatchRow.batch_id == batch_id).order_by(BatchRow.line_number))
    )


def row_map(batch_id: int) -> dict[str, BatchRow]:
    """The batch's rows by payee id (fresh from the database)."""
    db.session.expire_all()
    return {r.party_id_value: r for r in db.session.scalars(select(BatchRow).where(BatchRow.batch_id == batch_id))}


def ledger_consistent(account_code: str = "ACC-CNSS-001") -> tuple[bool, dict]:
    """Balance/reserved equal the sums of the ledger entries."""
    account = db.session.scalar(
        select(Account).where(Account.account_id == account_code).execution_options(populate_existing=True)
    )
    balance, reserved = ledger.ledger_totals(account.id)
    figures = {"balance": account.balance, "reserved": account.reserved, "ledger": (balance, reserved)}
    return (balance, reserved) == (account.balance, account.reserved), figures


def entries(reference: str) -> dict[str, int]:
    """Ledger amounts written under a batch reference, by kind (RESERVE, DEBIT, RELEASE …)."""
    rows = db.session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.reference == reference)
        .group_by(LedgerEntry.kind)
    ).all()
    return {kind: int(total) for kind, total in rows}


# Fines payments ------------------------------------------------------------------------------


def body(i: int = 1, **overrides) -> dict:
    """The JSON of a valid fines payment request for seeded citizen i (both of their fines).

    An override set to None removes that field.
    """
    from backoffice.simulators.fines import citizens

    citizen = citizens(i)[i - 1]
    data = {
        "reference": f"APP-{i:06d}",
        "telephone": citizen["telephone"],
        "amendes": [f["numero"] for f in citizen["amendes"]],
        "montant": sum(f["montant"] for f in citizen["amendes"]),
        "devise": "XOF",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def submit_fine_payment(client, i: int = 1, **overrides) -> str:
    """A fines payment received through the API (202, status RECU); returns its id."""
    response = post(client, body(i, **overrides))
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


# Objects the role matrix puts into URLs --------------------------------------------------------


def _fine_payment(demo: dict) -> str:
    """A fines payment of CNSS received through a CNSS API client (status RECU)."""
    from backoffice.models.fines import ApiClient
    from backoffice.services.api_clients import ApiIdentity
    from backoffice.services.fines import payment_requests

    row = db.session.get(ApiClient, _api_client(demo))
    client = ApiIdentity(row.id, row.organisation_id, row.name)
    request = payment_requests.PaymentRequest("MATRIX-1", "22997000001", ["AM-2025-000101"], 10000, "XOF", None)
    return payment_requests.submit_payment(client, request, None, 600).id


def _api_client(demo: dict) -> int:
    """A CNSS API client (the demo's own belongs to the traffic authority), created once."""
    from backoffice.models.fines import ApiClient
    from backoffice.services.api_clients import create_client

    found = db.session.scalar(select(ApiClient.id).where(ApiClient.organisation_id == demo["orgs"]["CNSS"]))
    if found is None:
        found = create_client(None, demo["orgs"]["CNSS"], "Appli matrice")[0].id
        db.session.commit()  # the payment request inserts on a connection of its own
    return found


def cnss_draft_batch(demo: dict) -> int:
    """Get or create a CNSS draft batch of two rows, uploaded by gestionnaire 1 through the real service."""
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
    batch_id = cnss_draft_batch(demo)
    return db.session.scalar(
        select(BatchRow.id).where(BatchRow.batch_id == batch_id).order_by(BatchRow.line_number).limit(1)
    )


def cnss_list(demo: dict):
    """Get or create the CNSS beneficiary list that list_id and entry_id share."""
    from backoffice.models.lists import BeneficiaryList

    lst = db.session.scalar(select(BeneficiaryList).where(BeneficiaryList.name == "Matrice"))
    if lst is None:
        lst = BeneficiaryList(organisation_id=demo["orgs"]["CNSS"], name="Matrice", currency="XOF")
        db.session.add(lst)
        db.session.flush()
    return lst


def cnss_entry(demo: dict):
    """Get or create the one entry of the CNSS list (MSISDN 22997000001, 1 000 XOF)."""
    from backoffice.models.lists import BeneficiaryEntry

    lst = cnss_list(demo)
    entry = db.session.scalar(select(BeneficiaryEntry).where(BeneficiaryEntry.list_id == lst.id))
    if entry is None:
        entry = BeneficiaryEntry(
            list_id=lst.id, party_id_type="MSISDN", party_id_value="22997000001", name="Test", default_amount=1000
        )
        db.session.add(entry)
        db.session.flush()
    return entry


def _provider():
    from backoffice.models.providers import PayeeProvider

    provider = PayeeProvider(fsp_id="matrix-fsp", name="Fournisseur matrice")
    db.session.add(provider)
    db.session.flush()
    return provider


def _top_up_request(demo: dict) -> int:
    """A pending top-up of the CNSS account, asked by the second demo admin."""
    from backoffice.services import organisations as org_service

    account = db.session.get(Account, demo["accounts"]["ACC-CNSS-001"])
    asker = db.session.get(User, demo["users"]["admin2@demo.bj"])
    return org_service.request_top_up(asker, account, 1_000, "Versement de l'État").id


def _invitation_token(demo: dict) -> str:
    """A fresh invitation link's token for a new CNSS superviseur (the token is the last part of the link)."""
    from backoffice.services import users as user_service

    admin = db.session.get(User, demo["users"]["admin@demo.bj"])
    _, link = user_service.create_user(
        admin,
        email=f"invite-{uuid.uuid4().hex[:8]}@cnss.bj",
        first_name="Invitée",
        last_name="Test",
        phone=None,
        role="SUPERVISEUR",
        organisation_id=demo["orgs"]["CNSS"],
    )
    return link.rsplit("/", 1)[1]


def _webhook_endpoint(demo: dict) -> int:
    """A webhook endpoint of CNSS, registered for the demo batches client."""
    from backoffice.models.api import WebhookEndpoint
    from backoffice.models.fines import ApiClient
    from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY, hash_key

    client = db.session.scalar(select(ApiClient).where(ApiClient.key_hash == hash_key(DEMO_BATCH_CLIENT_KEY)))
    endpoint = WebhookEndpoint(
        organisation_id=client.organisation_id, api_client_id=client.id, url="http://127.0.0.1:9/h"
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint.id


def _webhook_delivery(demo: dict) -> int:
    """A delivery of a test event to that endpoint."""
    from backoffice.models.api import WebhookEndpoint
    from backoffice.services import webhooks

    endpoint = db.session.get(WebhookEndpoint, _webhook_endpoint(demo))
    return webhooks.send_test(None, endpoint).id


# Each builder gets the demo ids (see conftest.demo) inside an app context and returns an id.
# A route with a new URL parameter needs a builder here, or the role matrix test fails.
BUILDERS: dict[str, Callable[[dict], object]] = {
    "org_id": lambda demo: demo["orgs"]["CNSS"],
    "user_id": lambda demo: demo["users"]["gestionnaire1@cnss.bj"],
    "account_id": lambda demo: demo["accounts"]["ACC-CNSS-001"],
    "payment_id": _fine_payment,
    "client_id": _api_client,
    "list_id": lambda demo: cnss_list(demo).id,
    "entry_id": lambda demo: cnss_entry(demo).id,
    "provider_id": lambda demo: _provider().id,
    "batch_id": cnss_draft_batch,
    "row_id": _cnss_batch_row,
    "top_up_id": _top_up_request,
    "token": _invitation_token,
    "format_code": lambda demo: "payment_list",
    "endpoint_id": _webhook_endpoint,
    "delivery_id": _webhook_delivery,
}

# Parameters that name objects owned by an organisation (another organisation gets 404).
ORG_SCOPED_PARAMS = {
    "account_id",
    "list_id",
    "entry_id",
    "batch_id",
    "row_id",
    "payment_id",
    "endpoint_id",
    "delivery_id",
}
