"""Members see their organisation's accounts: balances, a filterable ledger, its export, batches."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from tests.conftest import login


def _ledger(app, demo):
    """Reserve, debit and release on the CNSS account, one entry back-dated to last year."""
    from backoffice.extensions import db
    from backoffice.models import LedgerEntry
    from backoffice.models.batches import Batch
    from backoffice.services import ledger

    account_id = demo["accounts"]["ACC-CNSS-001"]
    with app.app_context():
        ledger.reserve(account_id, 300_000, "LOT-1", note="Réservation du lot")
        ledger.debit(account_id, 200_000, "LOT-1")
        ledger.release(account_id, 300_000, "LOT-1")  # DEBIT moves the balance, RELEASE the reservation
        old = ledger.top_up(account_id, 5_000, "=cmd|' /C calc'!A0", None)
        old.created_at = datetime(2025, 1, 15, 10, 0)
        db.session.add(
            Batch(
                organisation_id=demo["orgs"]["CNSS"],
                account_id=account_id,
                reference="LOT-20261101-0001",
                label="Pensions de novembre",
                status="COMPLETED",
                currency="XOF",
                created_by_id=demo["users"]["gestionnaire1@cnss.bj"],
                total_amount=200_000,
            )
        )
        db.session.commit()
        assert db.session.query(LedgerEntry).filter_by(account_id=account_id).count() == 5  # with the opening
    return account_id


def test_accounts_list_and_detail(app, client, demo):
    account_id = _ledger(app, demo)
    assert login(client, "superviseur@cnss.bj").status_code == 302
    listing = client.get("/tableau-de-bord/comptes").get_data(as_text=True)
    assert "ACC-CNSS-001" in listing and "ACC-NEXT-001" not in listing
    assert "499\u202f805\u202f000\u202fF CFA" in listing  # 500 000 000 + 5 000 − 200 000 (balance)
    page = client.get(f"/tableau-de-bord/comptes/{account_id}").get_data(as_text=True)
    assert 'data-figure="reserved">0\u202fF CFA' in page
    assert "Pensions de novembre" in page and "LOT-20261101-0001" in page
    for label in ("Réservation", "Débit", "Libération", "Approvisionnement"):
        assert label in page
    debits = client.get(f"/tableau-de-bord/comptes/{account_id}?kind=DEBIT").get_data(as_text=True)
    assert "<td>Débit</td>" in debits and "<td>Réservation</td>" not in debits
    year_2025 = client.get(f"/tableau-de-bord/comptes/{account_id}?date_from=2025-01-01&date_to=2025-12-31")
    text = year_2025.get_data(as_text=True)
    assert "15/01/2025" in text and "Réservation</td>" not in text


def test_ledger_export_is_filtered_and_formula_safe(app, client, demo):
    account_id = _ledger(app, demo)
    assert login(client, "gestionnaire1@cnss.bj").status_code == 302
    response = client.get(f"/tableau-de-bord/comptes/{account_id}/export.csv")
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Date, heure de Porto-Novo (UTC+01:00)", "Opération", "Montant"]
    assert len(rows) == 6
    assert any(r[7] == "'=cmd|' /C calc'!A0" for r in rows[1:])
    only = client.get(f"/tableau-de-bord/comptes/{account_id}/export.csv?kind=RELEASE&sep=,")
    rows = list(csv.reader(io.StringIO(only.data.decode("utf-8-sig"))))
    assert [r[1:3] for r in rows[1:]] == [["Libération", "300000"]]


def test_other_organisation_gets_404(app, client, demo):
    account_id = _ledger(app, demo)
    assert login(client, "gestionnaire@next.mr").status_code == 302
    assert client.get(f"/tableau-de-bord/comptes/{account_id}").status_code == 404
    assert client.get(f"/tableau-de-bord/comptes/{account_id}/export.csv").status_code == 404
    assert "ACC-CNSS-001" not in client.get("/tableau-de-bord/comptes").get_data(as_text=True)
