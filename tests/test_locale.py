"""Local time, French formats (Babel), the FSPIOP error table, audit sentences, live figures, PDFs."""

from __future__ import annotations

import html
import shutil
import subprocess
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from backoffice.extensions import db
from backoffice.models import Organisation
from backoffice.models.batches import Batch, BatchRow
from backoffice.services import locale
from backoffice.services.mojaloop_errors import error_label
from tests.factories import PAYMENT_LIST, import_bytes, user

G1, G2 = "gestionnaire1@cnss.bj", "gestionnaire2@cnss.bj"


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# Formats ----------------------------------------------------------------------------------


def test_times_are_shown_in_the_organisation_zone():
    noon_utc = datetime(2026, 12, 1, 12, 0, 5)
    assert locale.format_datetime(noon_utc, "Africa/Porto-Novo") == "01/12/2026 13:00"
    assert locale.format_datetime(noon_utc, "Africa/Nouakchott", seconds=True) == "01/12/2026 12:00:05"
    assert locale.format_datetime(None, "UTC") == "—"
    assert locale.zone_label("Africa/Porto-Novo") == "heure de Porto-Novo (UTC+01:00)"
    assert locale.zone_label("Africa/Nouakchott") == "heure de Nouakchott (UTC+00:00)"
    # Local midnight in Cotonou is 23:00 UTC the day before.
    start, end = locale.utc_bounds(datetime(2026, 12, 1).date(), datetime(2026, 12, 2).date(), "Africa/Porto-Novo")
    assert (start, end) == (datetime(2026, 11, 30, 23, 0), datetime(2026, 12, 1, 23, 0))
    assert locale.format_date(datetime(2026, 12, 1).date(), "long") == "1 décembre 2026"


def test_numbers_percentages_and_plurals_in_french():
    assert locale.format_number(26991) == "26\u202f991"
    assert locale.format_number(12.34, 1) == "12,3"
    assert locale.format_percent(1, 2) == "50,0\u00a0%"
    # Never 100 % while a row failed, never 0 % while one was paid.
    assert locale.format_percent(99_999, 100_000) == "99,9\u00a0%"
    assert locale.format_percent(1, 100_000) == "0,1\u00a0%"
    assert locale.format_percent(5, 5) == "100,0\u00a0%"
    assert locale.format_percent(0, 0) == "—"
    assert locale.plural(1, "ligne invalide") == "1\u00a0ligne invalide"
    assert locale.plural(0, "ligne invalide") == "0\u00a0ligne invalide"
    assert locale.plural(3, "ligne invalide") == "3\u00a0lignes invalides"
    assert locale.plural(2, "virement international") == "2\u00a0virements internationaux"


def test_fspiop_codes_have_french_descriptions():
    assert error_label("3204", "Party not found") == "Bénéficiaire introuvable"
    assert error_label("5104", "Payee rejected the financial transaction") == "Transfert refusé par le bénéficiaire"
    assert error_label("5999", "whatever") == "Erreur du bénéficiaire (5999)"
    assert error_label("ABORTED") == "Transfert interrompu par l’adaptateur"
    assert error_label("XYZ", "Something") == "Something"


# Pages ------------------------------------------------------------------------------------


def _paying_batch(demo) -> int:
    """A CNSS batch of three rows, approved, being paid: one paid, one failed 3204, one unknown."""
    from backoffice.services.bulk import approval

    batch_id = import_bytes(demo, PAYMENT_LIST)
    approval.submit_batch(user(G1), batch_id)
    approval.approve_batch(user(G2), batch_id)
    rows = db.session.scalars(db.select(BatchRow).where(BatchRow.batch_id == batch_id).order_by(BatchRow.line_number))
    paid, failed, unknown = list(rows)
    now = datetime.utcnow()
    paid.status, paid.completed_at, paid.updated_at, paid.fee = "COMPLETED", now, now, 100
    failed.status, failed.error_code, failed.error_description, failed.updated_at = (
        "FAILED",
        "3204",
        "Party not found",
        now,
    )
    unknown.status, unknown.next_check_at = "UNKNOWN", now + timedelta(seconds=40)
    db.session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(status="PROCESSING", processing_started_at=now - timedelta(seconds=20), approved_at=datetime(2026, 12, 1, 9, 0))
    )
    db.session.commit()
    return batch_id


def test_batch_page_in_local_time_with_live_figures_and_french_errors(app, client, login_as, demo):
    with app.app_context():
        batch_id = _paying_batch(demo)
    login_as("superviseur@cnss.bj")
    page = _text(client.get(f"/batches/{batch_id}"))
    assert "Approuvé par" in page and "01/12/2026 10:00" in page  # 09:00 UTC is 10:00 in Cotonou
    assert "Heures affichées : heure de Porto-Novo (UTC+01:00)" in page
    fragment = _text(client.get(f"/batches/{batch_id}/progress", headers={"HX-Request": "true"}))
    # Amounts and the success rate are in the polled fragment, so they move while paying.
    assert 'data-testid="amount-paid">10\u202f000\u202fF CFA' in fragment
    assert 'data-testid="amount-failed">20\u202f000\u202fF CFA' in fragment
    assert 'data-testid="amount-left">5\u202f000\u202fF CFA' in fragment
    assert 'data-testid="amount-reserved">35\u202f000\u202fF CFA' in fragment
    assert 'data-testid="success-rate">50,0\u00a0%' in fragment
    # Only a row awaiting a status check is left: no made-up "1 s" estimate.
    assert "en attente d’une vérification de statut" in fragment and "Temps restant" not in fragment
    failed = _text(client.get(f"/batches/{batch_id}?status=FAILED"))
    assert "3204 Bénéficiaire introuvable" in failed


def test_final_page_shows_total_duration_and_average_rate(app, client, login_as, demo):
    with app.app_context():
        batch_id = _paying_batch(demo)
        started = datetime(2026, 12, 1, 9, 0, 0)
        db.session.execute(
            update(BatchRow).where(BatchRow.batch_id == batch_id, BatchRow.status == "UNKNOWN").values(status="FAILED")
        )
        db.session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(
                status="PARTIALLY_COMPLETED",
                processing_started_at=started,
                completed_at=started + timedelta(minutes=2, seconds=5),
                reserved_amount=0,
            )
        )
        db.session.commit()
    login_as("superviseur@cnss.bj")
    fragment = _text(client.get(f"/batches/{batch_id}/progress"))
    assert "Durée totale : 2\u00a0min\u00a005\u00a0s" in fragment
    assert "Débit moyen : 0\u00a0virements/s" not in fragment and "Débit moyen : 0,0 virements/s" in fragment
    assert 'data-testid="success-rate">33,3\u00a0%' in fragment


def test_next_mr_reads_nouakchott_time(app, client, login_as, demo):
    with app.app_context():
        batch_id = import_bytes(
            demo,
            b"phone_number,amount\n22233344,15\n",
            account="ACC-NEXT-001",
            email="gestionnaire@next.mr",
        )
        db.session.execute(update(Batch).where(Batch.id == batch_id).values(created_at=datetime(2026, 12, 1, 9, 0)))
        db.session.commit()
        assert db.session.get(Organisation, demo["orgs"]["NEXT"]).timezone == "Africa/Nouakchott"
    login_as("gestionnaire@next.mr")
    page = _text(client.get(f"/batches/{batch_id}"))
    assert "01/12/2026 09:00" in page and "Nouakchott" in page


def test_admin_sets_an_organisation_zone_and_a_bad_one_is_refused(app, client, login_as, demo):
    login_as("admin@demo.bj")
    org = demo["orgs"]["NEXT"]
    bad = client.post(f"/admin/organisations/{org}", data={"code": "NEXT", "name": "Next.mr", "timezone": "Mars/Olympus"})
    assert bad.status_code == 200 and "N'est pas un choix valide" in _text(bad)
    with app.app_context():
        assert db.session.get(Organisation, org).timezone == "Africa/Nouakchott"
    good = client.post(f"/admin/organisations/{org}", data={"code": "NEXT", "name": "Next.mr", "timezone": "Africa/Dakar"})
    assert good.status_code == 302
    with app.app_context():
        from backoffice.models import AuditEvent

        assert db.session.get(Organisation, org).timezone == "Africa/Dakar"
        event = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.action == "organisation.updated").order_by(AuditEvent.id.desc())
        ).first()
        assert event.details["timezone"] == "Africa/Dakar" and event.details["old_timezone"] == "Africa/Nouakchott"


def test_audit_log_reads_as_sentences(app, client, login_as, demo):
    from backoffice.services.bulk import approval

    with app.app_context():
        batch_id = import_bytes(demo, PAYMENT_LIST)
        approval.submit_batch(user(G1), batch_id)
        approval.reject_batch(user(G2), batch_id, "Montants de septembre")
        reference = db.session.get(Batch, batch_id).reference
    login_as("superviseur@cnss.bj")
    page = _text(client.get("/tableau-de-bord/audit"))
    assert f"Koffi Agossou a importé le lot {reference}" in page
    assert f"Aïcha Dossou a rejeté le lot {reference}" in page
    assert "motif : Montants de septembre" in page
    assert "batches.rejected" not in page and "Batch #" not in page and "{" not in page.split("<tbody>")[1]
    assert '<option value="batch.rejected" >… a rejeté le lot</option>' in page  # the filter, in words


# Documents --------------------------------------------------------------------------------


def _pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "document.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (pdftotext)")
def test_payment_order_and_final_report_pdfs(app, client, login_as, demo, tmp_path):
    with app.app_context():
        batch_id = _paying_batch(demo)
        reference = db.session.get(Batch, batch_id).reference
    login_as("superviseur@cnss.bj")
    order = client.get(f"/batches/{batch_id}/ordre-de-paiement.pdf")
    assert order.status_code == 200 and order.mimetype == "application/pdf" and order.data.startswith(b"%PDF")
    text = _pdf_text(order.data, tmp_path)
    assert "Ordre de paiement" in text and reference in text and "ACC-CNSS-001" in text
    assert "35 000 F CFA" in text.replace("\u202f", " ") and "Aïcha Dossou" in text and "Koffi Agossou" in text
    assert "01/12/2026 10:00" in text and "Porto-Novo" in text and "Date et signature" in text
    # Not final yet: no report, a clear message instead.
    early = client.get(f"/batches/{batch_id}/rapport-final.pdf")
    assert early.status_code == 302
    with app.app_context():
        db.session.execute(
            update(BatchRow).where(BatchRow.batch_id == batch_id, BatchRow.status == "UNKNOWN").values(status="FAILED")
        )
        db.session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(status="PARTIALLY_COMPLETED", completed_at=datetime.utcnow(), reserved_amount=0)
        )
        db.session.commit()
    report = client.get(f"/batches/{batch_id}/rapport-final.pdf")
    assert report.status_code == 200 and report.data.startswith(b"%PDF")
    text = _pdf_text(report.data, tmp_path)
    assert "Rapport final" in text and "Bénéficiaire introuvable" in text and "Party not found" in text
    assert "Durée totale" in text and "33,3" in text


def test_other_organisations_cannot_read_the_documents(app, client, login_as, demo):
    with app.app_context():
        batch_id = _paying_batch(demo)
    login_as("gestionnaire@next.mr")
    assert client.get(f"/batches/{batch_id}/ordre-de-paiement.pdf").status_code == 404


# Searches ---------------------------------------------------------------------------------


def test_searches_ignore_accents_and_case(app, client, login_as, demo):
    from backoffice.services.search import fold_text

    assert fold_text("Gbèdji Œuvre DÉCEMBRE") == "gbedji oeuvre decembre"
    content = (
        b"type_id,valeur_id,devise,montant,nom_complet\n"
        + "PERSONAL_ID,1000000001,XOF,10000,Rémi Gbèdji\nPERSONAL_ID,1000000002,XOF,20000,Awa Dossou\n".encode()
    )
    with app.app_context():
        batch_id = import_bytes(demo, content, label="Pensions de décembre")
        reference = db.session.get(Batch, batch_id).reference
    login_as(G1)
    rows = _text(client.get(f"/batches/{batch_id}?q=gbedji"))
    assert "Rémi Gbèdji" in rows and "Awa Dossou" not in rows
    assert "Rémi Gbèdji" in _text(client.get(f"/batches/{batch_id}?q=GBÈDJI"))
    history = _text(client.get("/batches/?q=decembre"))
    assert reference in history
    assert reference not in _text(client.get("/batches/?q=novembre"))
    assert reference not in _text(client.get("/batches/?q=%25"))


def test_dashboard_drill_down_keeps_the_error_code_to_the_rows(app, client, login_as, demo):
    with app.app_context():
        batch_id = _paying_batch(demo)
    login_as("superviseur@cnss.bj")
    history = _text(client.get("/batches/?error_code=3204"))
    assert f"/batches/{batch_id}?error_code=3204" in history
    rows = _text(client.get(f"/batches/{batch_id}?error_code=3204"))
    assert "Code d'erreur 3204 — Bénéficiaire introuvable" in rows
    assert "Koffi Agossou" in rows.split('id="batch-rows"')[1] and "Awa Dossou" not in rows.split('id="batch-rows"')[1]


def test_history_and_rows_sort_by_their_columns(app, client, login_as, demo):
    with app.app_context():
        small = import_bytes(demo, b"type_id,valeur_id,devise,montant\nPERSONAL_ID,1000000009,XOF,100\n", label="Petit")
        big = import_bytes(demo, PAYMENT_LIST, label="Grand")
        refs = {db.session.get(Batch, i).reference: i for i in (small, big)}
    login_as(G1)

    def history_refs(query: str) -> list[str]:
        page = _text(client.get(f"/batches/?{query}"))
        return [part.split("<")[0] for part in page.split("<strong>")[1:] if part.startswith("LOT-")]

    by_amount = history_refs("sort=amount")
    assert [refs[r] for r in by_amount] == [small, big]
    assert [refs[r] for r in history_refs("sort=-amount")] == [big, small]
    assert 'aria-sort="ascending"' in _text(client.get("/batches/?sort=amount"))
    assert [refs[r] for r in history_refs("sort=nonsense")] == [big, small]  # newest first
    rows = _text(client.get(f"/batches/{big}?sort=-amount")).split('id="batch-rows"')[1]
    assert rows.index("Koffi Agossou") < rows.index("Awa Dossou") < rows.index("Rémi Houngbédji")


def test_audit_search_forgives_accents(app, client, login_as, demo):
    from backoffice.services.bulk import approval

    with app.app_context():
        batch_id = import_bytes(demo, PAYMENT_LIST)
        approval.submit_batch(user(G1), batch_id)
        approval.reject_batch(user(G2), batch_id, "Montants de décembre")
    login_as("superviseur@cnss.bj")
    found = _text(client.get("/tableau-de-bord/audit?q=DECEMBRE")).split("<tbody>")[1]
    assert "motif : Montants de décembre" in found and "a importé" not in found
    by_person = _text(client.get("/tableau-de-bord/audit?q=aicha")).split("<tbody>")[1]
    assert "Aïcha Dossou a rejeté le lot" in by_person and "Koffi Agossou a importé" not in by_person


def test_time_left_comes_from_the_recent_rate(app, demo):
    """30 rows ended in the last 30 s and 60 pending: 1 row/s, about a minute left, whatever the
    slow start (the batch started an hour ago, when an average would say hours)."""
    from backoffice.services.bulk.progress import progress
    from tests.factories import make_approved_batch, msisdns

    with app.app_context():
        batch_id = make_approved_batch(msisdns(90))
        now = datetime.utcnow()
        rows = db.session.scalars(db.select(BatchRow).where(BatchRow.batch_id == batch_id).order_by(BatchRow.id))
        for i, row in enumerate(list(rows)[:30]):
            row.status, row.completed_at, row.updated_at = "COMPLETED", now - timedelta(seconds=i), now
        batch = db.session.get(Batch, batch_id)
        batch.status, batch.processing_started_at = "PROCESSING", now - timedelta(hours=1)
        db.session.commit()
        p = progress(batch, now=now)
    assert p.rate == pytest.approx(1.0, rel=0.05)
    assert 55 <= p.seconds_left <= 65 and not p.awaiting_check_only
    assert (p.completed, p.left, p.percent) == (30, 60, 33)
