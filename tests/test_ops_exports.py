"""Exports for a French operations team: CSV for French Excel by default, and .xlsx (issue 15)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import select, update

from backoffice.extensions import db
from backoffice.models.batches import BatchRow
from backoffice.services.spreadsheets import Amount, write_xlsx
from tests.factories import fresh_batch, import_bytes

NEXT_FILE = b"phone_number,amount,motive\n22233344,1500.50,Salaire\n+22233345,20,Prime\n"


def _next_batch(app, demo) -> tuple[int, str]:
    with app.app_context():
        batch_id = import_bytes(demo, NEXT_FILE, "ACC-NEXT-001", "gestionnaire@next.mr")
        db.session.execute(
            update(BatchRow)
            .where(BatchRow.batch_id == batch_id, BatchRow.line_number == 2)
            .values(status="COMPLETED", payee_name="Ahmed O.", fee=25, completed_at=datetime(2026, 11, 25, 8, 30, 5))
        )
        db.session.commit()
        return batch_id, fresh_batch(batch_id).reference


def test_default_csv_is_for_french_excel_and_comma_is_second(app, client, login_as, demo):
    batch_id, _ = _next_batch(app, demo)
    login_as("gestionnaire@next.mr")
    raw = client.get(f"/batches/{batch_id}/export.csv").data
    assert raw.startswith("\ufeff".encode())  # UTF-8 with BOM
    header, first = raw.decode("utf-8-sig").splitlines()[:2]
    assert header.startswith("Ligne;Type d'identifiant;Identifiant;Nom (fichier);Nom (Mojaloop);Montant (MRU)")
    assert "Libellé du statut" in header and "type_identifiant" not in header
    assert first.split(";")[5:7] == ["1500,50", "0,25"]
    comma = client.get(f"/batches/{batch_id}/export.csv?sep=,").data.decode("utf-8-sig").splitlines()
    assert list(csv.reader(comma))[1][5:7] == ["1500.50", "0.25"]
    page = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    # The Excel files come first, the comma file after them.
    assert page.index('id="export-link"') < page.index('id="export-xlsx-link"') < page.index('id="export-comma-link"')


def test_xlsx_export_reads_back_with_numbers_and_local_dates(app, client, login_as, demo):
    batch_id, reference = _next_batch(app, demo)
    login_as("gestionnaire@next.mr")
    response = client.get(f"/batches/{batch_id}/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f'filename="{reference}-rapprochement.xlsx"' in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == (
        "Ligne",
        "Type d'identifiant",
        "Identifiant",
        "Nom (fichier)",
        "Nom (Mojaloop)",
        "Montant (MRU)",
    )
    assert rows[0][-1] == "Terminé le, heure de Nouakchott (UTC+00:00)"
    assert sheet.freeze_panes == "A2"
    assert rows[1][0] == 2 and rows[1][5] == 1500.5 and rows[1][6] == 0.25
    assert sheet.cell(row=2, column=6).number_format == "#,##0.00"
    assert rows[1][-1] == datetime(2026, 11, 25, 8, 30, 5)
    assert rows[2][2] == "+22233345" and rows[2][5] == 20  # text in xlsx, never a formula; each row its own amount
    assert len(rows) == 3


def test_xlsx_dates_in_the_organisation_zone_and_text_never_a_formula(app, tmp_path):
    path = tmp_path / "t.xlsx"
    lines = [[Amount(15000, "XOF"), datetime(2026, 12, 1, 9, 0), '=HYPERLINK("http://x")', "a\x01b", None]]
    assert write_xlsx(path, "Essai", ["Montant (XOF)", "Date", "Nom", "Note", "Vide"], lines, "Africa/Porto-Novo") == 1
    sheet = load_workbook(path).active
    amount, when, name, note, empty = next(sheet.iter_rows(min_row=2, values_only=True))
    assert amount == 15000 and sheet.cell(row=2, column=1).number_format == "#,##0"
    assert when == datetime(2026, 12, 1, 10, 0)  # Cotonou is UTC+1
    assert name == '=HYPERLINK("http://x")' and sheet.cell(row=2, column=3).data_type == "s"
    assert note == "ab" and empty is None
    assert isinstance(Decimal(amount), Decimal)


def test_history_xlsx_keeps_the_filters(app, client, login_as, demo):
    with app.app_context():
        import_bytes(demo, b"phone_number,amount\n22997000001,100\n")
    login_as("gestionnaire1@cnss.bj")
    response = client.get("/batches/export.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("Référence", "Libellé", "État") and rows[0][5].startswith("Déposé le, heure de")
    assert len(rows) >= 2 and isinstance(rows[1][5], datetime) and isinstance(rows[1][10], int)
    filtered = client.get("/batches/export.xlsx?q=aucun-lot-ne-s-appelle-ainsi")
    assert len(list(load_workbook(io.BytesIO(filtered.data)).active.iter_rows())) == 1


def test_error_report_xlsx(app, client, login_as, demo):
    with app.app_context():
        batch_id = import_bytes(demo, b"phone_number,amount\n22997000001,abc\n")
    login_as("gestionnaire1@cnss.bj")
    rows = list(
        load_workbook(io.BytesIO(client.get(f"/batches/{batch_id}/errors.xlsx").data)).active.iter_rows(
            values_only=True
        )
    )
    assert rows[0] == ("Ligne", "Gravité", "Champ", "Motif", "Identifiant", "Montant lu (F CFA)", "Statut")
    assert rows[1][0] == 2 and rows[1][1] == "erreur" and rows[1][5] is None


def test_row_search_reads_the_folded_column(app, client, login_as, demo):
    content = "type_id,valeur_id,devise,montant,nom_complet\nMSISDN,22997000001,XOF,100,Rémi Gbèdji\nMSISDN,22997000002,XOF,200,Awa DOSSOU\n".encode()
    with app.app_context():
        batch_id = import_bytes(demo, content)
        rows = db.session.scalars(
            db.select(BatchRow).where(BatchRow.batch_id == batch_id).order_by(BatchRow.line_number)
        ).all()
        assert rows[0].search_text == rows[0].party_id_value + "\x1fremi gbedji"
        # The switch's name, learnt when the row is paid, is searchable too.
        from backoffice.models.batches import RowStatus
        from backoffice.services.bulk.outcomes import completed_params, write_completed

        db.session.execute(update(BatchRow).where(BatchRow.id == rows[1].id).values(status="SENDING", lease_owner="t"))
        write_completed(
            [completed_params(rows[1].id, "Awa Dossou-Hèdé", None, 0, datetime(2026, 12, 1))],
            "t",
            RowStatus.SENDING,
            datetime(2026, 12, 1),
        )
        db.session.commit()
        from backoffice.services.bulk import history

        batch = fresh_batch(batch_id)

        def found(q: str) -> list[int]:
            return [r.line_number for r in db.session.scalars(history.rows_query(batch, q=q))]

        assert found("gbedji") == [2] and found("GBÈDJI") == [2] and found("remi g") == [2]
        assert found("hede") == [3] and found("dossou") == [3] and found(rows[1].party_id_value[-7:]) == [3]
        assert found("1 remi") == []  # never across two parts
    login_as("gestionnaire1@cnss.bj")
    page = client.get(f"/batches/{batch_id}?q=gbedji").get_data(as_text=True)
    assert "Gbèdji" in page and "DOSSOU" not in page


def test_rows_inserted_without_search_text_get_it_from_their_values(app, demo):
    """Re-payments and tests insert rows through the ORM: the column default folds them too."""
    from sqlalchemy import insert

    from tests.factories import add_batch

    with app.app_context():
        batch = add_batch(demo)
        base = {"batch_id": batch.id, "status": "PENDING", "party_id_type": "MSISDN", "currency": "XOF", "amount": 1}
        db.session.execute(
            insert(BatchRow),
            [
                {
                    **base,
                    "line_number": 2,
                    "party_id_value": "22997000001",
                    "name": "Irène Zinsou",
                    "transfer_id": "t-1",
                },
                {**base, "line_number": 3, "party_id_value": "22997000002", "name": "Œuvre Sèna", "transfer_id": "t-2"},
            ],
        )
        db.session.add(
            BatchRow(**{**base, "line_number": 4, "party_id_value": "X", "name": "Éric", "transfer_id": "t-3"})
        )
        db.session.commit()
        texts = db.session.scalars(
            select(BatchRow.search_text).where(BatchRow.batch_id == batch.id).order_by(BatchRow.line_number)
        ).all()
        assert texts == ["22997000001\x1firene zinsou", "22997000002\x1foeuvre sena", "x\x1feric"]
