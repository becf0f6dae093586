"""Payer accounts through the API: balances, the ledger, and the batches paid from an account."""

from __future__ import annotations

from backoffice.api import bp
from backoffice.api import schemas as s
from backoffice.api.auth import api_key_required
from backoffice.api.batches import V1, batch_list
from backoffice.api.errors import not_found
from backoffice.api.openapi import documented, load_query
from backoffice.models import Account
from backoffice.services import api_batches as service
from backoffice.services.api_clients import ApiIdentity

TAG = "Comptes"


def _account(client: ApiIdentity, account_id: int) -> Account:
    try:
        return service.account_of(client, account_id)
    except LookupError:
        raise not_found("Compte introuvable.", "COMPTE_INTROUVABLE") from None


@bp.route(f"{V1}/accounts", methods=["GET"])
@documented(
    summary="Comptes payeurs de l'organisation",
    scope="accounts:read",
    tag=TAG,
    description="Solde, montant réservé (lots approuvés en cours) et disponible, en unité mineure.",
    responses={200: (s.AccountListSchema, "Les comptes")},
)
@api_key_required("accounts:read")
def list_accounts(client: ApiIdentity):
    return {"comptes": service.accounts_json(client.organisation_id)}


@bp.route(f"{V1}/accounts/<int:account_id>/ledger", methods=["GET"])
@documented(
    summary="Grand livre d'un compte",
    scope="accounts:read",
    tag=TAG,
    description="Les écritures, de la plus récente à la plus ancienne.",
    query=s.PageQuery,
    responses={200: (s.LedgerPageSchema, "Une page d'écritures")},
)
@api_key_required("accounts:read")
def account_ledger(client: ApiIdentity, account_id: int):
    account = _account(client, account_id)
    query = load_query(s.PageQuery)
    return service.ledger_page(account, query["limit"], query["offset"])


@bp.route(f"{V1}/accounts/<int:account_id>/batches", methods=["GET"])
@documented(
    summary="Lots payés depuis un compte",
    scope="accounts:read",
    tag=TAG,
    query=s.AccountBatchesQuery,
    responses={200: (s.BatchListSchema, "Une page de lots")},
)
@api_key_required("accounts:read")
def account_batches(client: ApiIdentity, account_id: int):
    account = _account(client, account_id)
    return batch_list(client, load_query(s.AccountBatchesQuery), account_id=account.id)
