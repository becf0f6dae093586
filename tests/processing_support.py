"""Helpers for the processing tests and benchmark: approved batches made straight from models.

The upload/approval services live on another branch; these helpers do what approval does
(rows PENDING with their own transferId, the total reserved on the payer account, status
APPROVED) so that processing can be tested on its own.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from sqlalchemy import func, insert, select

from backoffice.extensions import db
from backoffice.models import Account, LedgerEntry, User
from backoffice.models.batches import Batch, BatchRow, BatchStatus, RowStatus
from backoffice.services import ledger


@contextmanager
def configured_app(app, settings: dict, sdk_url: str) -> Iterator:
    """An app context with these settings and the simulator as SDK adapter; restored afterwards."""
    saved = {k: app.config.get(k) for k in [*settings, "MOJALOOP_SDK_URL"]}
    app.config.update(settings, MOJALOOP_SDK_URL=sdk_url)
    with app.app_context():
        yield app
        db.session.remove()
    app.config.update(saved)


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
    """An APPROVED batch of MSISDN rows with its total reserved; returns its id (commits)."""
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
    rows = [
        {
            "batch_id": batch.id,
            "line_number": i + 2,
            "status": RowStatus.PENDING.value,
            "party_id_type": id_type,
            "party_id_value": value,
            "amount": row_amount,
            "currency": account.currency,
            "name": f"Bénéficiaire {i + 1}",
            "transfer_id": str(uuid.uuid4()),
            "home_transaction_id": f"{reference}-{i + 2}",
            "fee": 0,
            "attempts": 0,
            "status_checks": 0,
            "settled": False,
            "note": "",
            "source_reference": "",
        }
        for i, (value, row_amount) in enumerate(zip(identifiers, amounts, strict=True))
    ]
    rows += [
        {
            "batch_id": batch.id,
            "line_number": len(identifiers) + 2 + i,
            "status": RowStatus.SKIPPED.value,
            "party_id_type": id_type,
            "party_id_value": "abc",
            "amount": None,
            "currency": account.currency,
            "name": "",
            "transfer_id": str(uuid.uuid4()),
            "home_transaction_id": f"{reference}-skipped-{i}",
            "fee": 0,
            "attempts": 0,
            "status_checks": 0,
            "settled": False,
            "note": "",
            "source_reference": "",
            "errors": [{"field": "amount", "message": "montant illisible"}],
        }
        for i in range(skipped)
    ]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(BatchRow), rows[start : start + 5000])
    ledger.reserve(account.id, total, reference, note="Approbation du lot (test)")
    db.session.commit()
    return batch.id


def msisdns(count: int, start: int = 1, prefix: str = "2299700") -> list[str]:
    return [f"{prefix}{n:04d}" for n in range(start, start + count)]


def ledger_consistent(account_code: str = "ACC-CNSS-001") -> tuple[bool, dict]:
    """Balance/reserved equal the sums of the ledger entries."""
    account = db.session.scalar(
        select(Account).where(Account.account_id == account_code).execution_options(populate_existing=True)
    )
    balance, reserved = ledger.ledger_totals(account.id)
    figures = {"balance": account.balance, "reserved": account.reserved, "ledger": (balance, reserved)}
    return (balance, reserved) == (account.balance, account.reserved), figures


def entries(reference: str) -> dict[str, int]:
    rows = db.session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.reference == reference)
        .group_by(LedgerEntry.kind)
    ).all()
    return {kind: int(total) for kind, total in rows}


def row_map(batch_id: int) -> dict[str, BatchRow]:
    db.session.expire_all()
    return {r.party_id_value: r for r in db.session.scalars(select(BatchRow).where(BatchRow.batch_id == batch_id))}


class Sim:
    """Talks to a running simulator's admin API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def reset(self, **settings) -> None:
        requests.post(f"{self.url}/__admin/reset", timeout=5).raise_for_status()
        base = {
            "latency_ms": 0,
            "auto_accept": True,
            "fee": "0",
            "commit_delay_ms": 0,
            "hang_ms": 3000,
            "not_found_rate": 0.0,
            "reject_rate": 0.0,
            "timeout_rate": 0.0,
        }
        self.configure(**{**base, **settings})

    def configure(self, **settings) -> dict:
        response = requests.post(f"{self.url}/__admin/config", json=settings, timeout=5)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/__admin/stats", timeout=30).json()


def start_mojaloop_simulator(*options: str):
    """`flask simulate mojaloop` on a free port (a real process, over HTTP)."""
    from backoffice import devservers

    return devservers.start_simulator("mojaloop", options=list(options))
