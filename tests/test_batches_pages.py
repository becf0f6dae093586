"""History, details and the CSV reports of batches."""

from __future__ import annotations

import csv
import html
import io
from datetime import datetime

from sqlalchemy import event, update

from backoffice.extensions import db
from backoffice.models import Account
from backoffice.models.batches import Batch, BatchRow
from backoffice.services.bulk import approval, history
from backoffice.services.search import search_suffix
from tests.factories import PAYMENT_LIST, fresh_batch, import_bytes, rows_of, user

G1, G2 = "gestionnaire1@cnss.bj", "gestionnaire2@cnss.bj"


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _set_rows(batch_id: int, line: int, **values) -> None:
    """Play the processing helper's part: give a row its outcome."""
    db.session.execute(
        update(BatchRow).where(BatchRow.batch_id == batch_id, BatchRow.line_number == line).values(**values)
    )


def _history_refs(client, query: str = "") -> list[str]:
    page = _text(client.get(f"/batches/{query}"))
    return [part.split("<")[0] for part in page.split("<strong>LOT-")[1:]]


def test_history_filters(app, client, login_as, demo):
    with app.app_context():
        second_account = Account(
            organisation_id=demo["orgs"]["CNSS"],
            account_id="ACC-CNSS-002",
            label="Rentes",
            currency="XOF",
            party_id_type="BUSINESS",
            party_id_value="CNSS-BJ-2",
        )
        db.session.add(second_account)
        db.session.commit()
        a = import_bytes(demo, PAYMENT_LIST, label="Pensions de janvier")
        b = import_bytes(demo, PAYMENT_LIST + b"PERSONAL_ID,4,XOF,1,D\n", label="Pensions de février", email=G2)
        c_ = import_bytes(demo, PAYMENT_LIST + b"PERSONAL_ID,5,XOF,1,E\n", label="Rentes mars")
        db.session.execute(update(Batch).where(Batch.id == c_).values(account_id=second_account.id))
        db.session.execute(update(Batch).where(Batch.id == a).values(created_at=datetime(2026, 1, 15, 10)))
        db.session.execute(update(Batch).where(Batch.id == b).values(created_at=datetime(2026, 2, 15, 10)))
        db.session.execute(update(Batch).where(Batch.id == c_).values(created_at=datetime(2026, 3, 15, 23, 59)))
        approval.submit_batch(user(G2), b)
        _set_rows(a, 2, status="FAILED", error_code="3204", error_description="Party not found")
        _set_rows(c_, 3, status="COMPLETED", payee_fsp_id="orange-bj")
        db.session.commit()
        ref = {x: fresh_batch(x).reference[4:] for x in (a, b, c_)}
        next_batch = import_bytes(demo, PAYMENT_LIST, "ACC-NEXT-001", "gestionnaire@next.mr")
        assert next_batch

    login_as("superviseur@cnss.bj")  # members read the history
    assert _history_refs(client) == [ref[c_], ref[b], ref[a]]  # newest first, own organisation only
    assert _history_refs(client, "?status=PENDING_APPROVAL") == [ref[b]]
    assert _history_refs(client, "?date_from=2026-02-01") == [ref[c_], ref[b]]
    assert _history_refs(client, "?date_to=2026-03-15") == [ref[c_], ref[b], ref[a]]
    assert _history_refs(client, "?date_from=2026-02-01&date_to=2026-02-28") == [ref[b]]
    assert _history_refs(client, f"?uploader={demo['users'][G2]}") == [ref[b]]
    assert _history_refs(client, f"?account={demo['accounts']['ACC-CNSS-001']}") == [ref[b], ref[a]]
    assert _history_refs(client, "?q=PENSIONS") == [ref[b], ref[a]]
    assert _history_refs(client, f"?q={ref[a]}") == [ref[a]]
    assert _history_refs(client, "?q=100%25") == []  # LIKE wildcards are searched literally
    assert _history_refs(client, "?error_code=3204") == [ref[a]]
    assert _history_refs(client, "?provider=orange-bj") == [ref[c_]]
    assert _history_refs(client, "?date_from=n'importe&status=NOPE&uploader=x") == [ref[c_], ref[b], ref[a]]
    page = _text(client.get("/batches/?error_code=3204"))
    assert "Code d'erreur 3204" in page and "Effacer les filtres" in page


def test_history_counts_outcomes_in_one_query_and_paginates(app, client, login_as, demo):
    with app.app_context():
        ids = [import_bytes(demo, PAYMENT_LIST, label=f"Lot {i}") for i in range(app.config["PAGE_SIZE"] + 2)]
        _set_rows(ids[-1], 2, status="COMPLETED")
        _set_rows(ids[-1], 3, status="COMPLETED")
        _set_rows(ids[-1], 4, status="FAILED")
        db.session.execute(update(Batch).where(Batch.id.in_(ids[-3:])).values(status="PROCESSING"))
        db.session.execute(update(Batch).where(Batch.id.in_(ids[:3])).values(status="COMPLETED"))
        db.session.commit()
    login_as(G1)
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        page = _text(client.get("/batches/"))
        first_page = len(statements)
        statements.clear()
        page2 = _text(client.get("/batches/?page=2"))
        second_page = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert f"Page 1 sur 2 · {app.config['PAGE_SIZE'] + 2}" in page
    # 25 batches or 2 batches on a page: the same number of queries (no N+1).
    assert first_page == second_page, (first_page, second_page)
    assert len([s for s in statements if "batch_rows" in s]) == 1
    newest = page.split("<tbody>")[1].split("</tr>")[0]
    assert '<td class="num">2</td>\n      <td class="num">1</td>' in newest
    assert "Lot 0" in page2


def test_details_statistics_rows_filter_search_pagination_timeline(app, client, login_as, demo):
    content = b"type_id,valeur_id,devise,montant,nom_complet\n" + b"".join(
        b"PERSONAL_ID,%d,XOF,%d,Personne %d\n" % (1000 + i, 100 * (i + 1), i) for i in range(60)
    )
    with app.app_context():
        batch_id = import_bytes(demo, content)
        approval.submit_batch(user(G1), batch_id)
        approval.approve_batch(user(G2), batch_id)
        # Playing the processing helper's part, search text included (issue 15: rows are searched by it).
        _set_rows(
            batch_id,
            2,
            status="COMPLETED",
            fee=10,
            payee_name="PERSONNE ZERO",
            search_text=BatchRow.search_text + search_suffix("PERSONNE ZERO"),
            completed_at=datetime.now(),
        )
        _set_rows(batch_id, 3, status="FAILED", error_code="3204", error_description="Party not found")
        db.session.execute(update(Batch).where(Batch.id == batch_id).values(status="PROCESSING"))
        db.session.commit()
    login_as("superviseur@cnss.bj")
    page = _text(client.get(f"/batches/{batch_id}"))
    stats = page.split('id="batch-statistics"')[1].split("</div>\n  </div>")[0]
    assert '<span>Taux de réussite</span><strong data-testid="success-rate">50,0\u00a0%</strong>' in stats
    assert "<span>Montant payé (1\u00a0ligne)</span><strong" in stats and ">100\u202fF CFA</strong>" in stats
    assert "<span>Montant échoué (1\u00a0ligne)</span><strong" in stats and ">200\u202fF CFA</strong>" in stats
    assert (
        "<span>Reste à payer (58\u00a0lignes)</span><strong" in stats and ">182\u202f700\u202fF CFA</strong>" in stats
    )
    assert '<span>Frais</span><strong class="amount">10\u202fF CFA</strong>' in stats
    assert "Page 1 sur 3" in page
    assert "Lot approuvé" in page and "Lot soumis pour approbation." in page and "importé : 60 lignes" in page
    failed = _text(client.get(f"/batches/{batch_id}?status=FAILED"))
    assert (
        "3204 Bénéficiaire introuvable" in failed
        and 'title="Party not found"' in failed
        and "Personne 1<" in failed
        and "Personne 2<" not in failed
    )
    found = _text(client.get(f"/batches/{batch_id}?q=personne 5"))
    assert "Personne 5<" in found and "Personne 50<" in found and "Personne 4<" not in found
    assert "Mojaloop : PERSONNE ZERO" in _text(client.get(f"/batches/{batch_id}?q=zero"))
    assert "Page 3 sur 3" in _text(client.get(f"/batches/{batch_id}?page=3"))


def _csv(response, delimiter=","):
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=delimiter))


def test_reconciliation_export(app, client, login_as, demo):
    content = b"phone_number,amount,motive\n22233344,1500.50,Salaire\n+22233345,20,Prime\nabc,10,Mauvais\n"
    accounts_file = b'name,amount,accountNumber\n=HYPERLINK("http://x"),1,@SUM(A1)\n-2+3,2,\tX\n'
    with app.app_context():
        batch_id = import_bytes(demo, content, "ACC-NEXT-001", "gestionnaire@next.mr")
        evil = import_bytes(demo, accounts_file, "ACC-NEXT-001", "gestionnaire@next.mr")
        done = datetime(2026, 11, 25, 8, 30, 5)
        _set_rows(batch_id, 2, status="COMPLETED", payee_name="Ahmed O.", fee=25, completed_at=done)
        _set_rows(batch_id, 3, status="FAILED", error_code="3204", error_description="Party not found")
        db.session.commit()
        reference = fresh_batch(batch_id).reference
        first_transfer_id = rows_of(batch_id)[0].transfer_id
    login_as("gestionnaire@next.mr")
    response = client.get(f"/batches/{batch_id}/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="{reference}-rapprochement.csv"' in response.headers["Content-Disposition"]
    # The default opens in French Excel: `;`, decimal comma, French headers (issue 15).
    lines = _csv(response, ";")
    assert lines[0][:3] == ["Ligne", "Type d'identifiant", "Identifiant"]
    assert lines[0][5:7] == ["Montant (MRU)", "Frais (MRU)"]
    assert lines[0][8:10] == ["Code du statut", "Libellé du statut"]
    assert lines[1] == [
        "2",
        "MSISDN",
        "22222233344",  # a national number stored with its country code (issue 11)
        "",
        "Ahmed O.",
        "1500,50",
        "0,25",
        "MRU",
        "COMPLETED",
        "Payé",
        first_transfer_id,
        f"{reference}-2",
        "",
        "",
        "",
        "2026-11-25 08:30:05",  # Next.mr reads Nouakchott time (UTC+0)
    ]
    assert lines[0][-1] == "Terminé le, heure de Nouakchott (UTC+00:00)"
    assert lines[2][2] == "'+22233345"  # a leading + would be a formula in Excel
    assert lines[2][8:10] == ["FAILED", "Échoué"] and lines[2][12:15] == [
        "3204",
        "Bénéficiaire introuvable",
        "Party not found",
    ]
    assert lines[3][8:10] == ["INVALID", "Invalide"] and "Numéro de téléphone « abc » invalide" in lines[3][13]
    assert lines[3][13] == lines[3][14]
    assert len(lines) == 4

    # The comma file, offered second: `,` and a decimal point; `?sep=semicolon` still means `;`.
    comma = _csv(client.get(f"/batches/{batch_id}/export.csv?sep=,"))
    assert comma[1][5:7] == ["1500.50", "0.25"] and len(comma[1]) == 16
    semicolon = _csv(client.get(f"/batches/{batch_id}/export.csv?sep=semicolon"), ";")
    assert semicolon[1][5] == "1500,50"

    evil_lines = _csv(client.get(f"/batches/{evil}/export.csv"), ";")
    assert evil_lines[1][3] == '\'=HYPERLINK("http://x")' and evil_lines[1][2] == "'@SUM(A1)"
    assert evil_lines[2][3] == "'-2+3" and evil_lines[2][2] == "X"  # cells are trimmed at import


def test_export_streams_every_row_of_a_large_batch(app, client, login_as, demo):
    content = b"phone_number,amount\n" + b"".join(b"2299%07d,%d\n" % (i, i + 1) for i in range(4500))
    with app.app_context():
        batch_id = import_bytes(demo, content)
    login_as(G1)
    lines = _csv(client.get(f"/batches/{batch_id}/export.csv"), ";")
    assert len(lines) == 4501
    assert [int(line[0]) for line in lines[1:]] == list(range(2, 4502))
    assert lines[-1][5] == "4500"


def test_error_report(app, client, login_as, demo):
    content = (
        b"transferId,amount,currency,partyIdType,partyIdentifier\n"
        b"t1,100,XOF,MSISDN,2290190000001\n"
        b"t2,abc,XOF,PHONE,2290190000001\n"
        b"t3,5,XOF,MSISDN,2290190000001\n"
    )
    with app.app_context():
        batch_id = import_bytes(demo, content)
    login_as("superviseur@cnss.bj")
    lines = _csv(client.get(f"/batches/{batch_id}/errors.csv"), ";")
    assert lines[0] == ["Ligne", "Gravité", "Champ", "Motif", "Identifiant", "Montant lu (F CFA)", "Statut"]
    assert [line[:3] for line in lines[1:]] == [
        ["3", "erreur", "partyIdType"],
        ["3", "erreur", "amount"],
        ["4", "erreur", "partyIdentifier"],  # the same beneficiary twice: an error (issue 11)
    ]
    assert lines[2][3].startswith("Montant illisible")
    assert lines[3][3] == "Même bénéficiaire que la ligne 2 (MSISDN 2290190000001)."
    assert "Rapport d'erreurs (CSV)" in _text(client.get(f"/batches/{batch_id}"))


def test_details_page_at_every_stage(app, client, login_as, demo):
    from backoffice.models.batches import BATCH_STATUS_LABELS

    with app.app_context():
        batch_id = import_bytes(demo, PAYMENT_LIST)
    login_as("superviseur@cnss.bj")
    for status, label in BATCH_STATUS_LABELS.items():
        with app.app_context():
            db.session.execute(update(Batch).where(Batch.id == batch_id).values(status=status.value))
            db.session.commit()
        page = _text(client.get(f"/batches/{batch_id}"))
        assert f'id="batch-status">{label}</span>' in page, status
        assert ('id="batch-statistics"' in page) == (status.value in history.PAID_STATUSES), status
