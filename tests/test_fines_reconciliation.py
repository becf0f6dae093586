"""The authority's day: its dashboard, and the daily reconciliation (page, CSV, live check with the simulators)."""

from __future__ import annotations

from datetime import timedelta

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.fines import FinePayment
from tests.factories import body, submit_fine_payment


def _set(app, payment_id: str, items: dict | None = None, **values) -> None:
    with app.app_context():
        payment = db.session.get(FinePayment, payment_id)
        for key, value in values.items():
            setattr(payment, key, value)
        for item in payment.items:
            for key, value in (items or {}).items():
                setattr(item, key, value)
        db.session.commit()


def _paid(app, payment_id: str, i: int) -> None:
    """A clean PAYE: debited, every fine marked with our id, all collected."""
    with app.app_context():
        payment = db.session.get(FinePayment, payment_id)
        amounts = iter([5000 * (k + i % 3) for k in (1, 2)])
        for item in payment.items:
            item.amount = next(amounts)
            item.mark_outcome = "PAYEE"
            item.mark_sent_at = utcnow()
        payment.status = "PAYE"
        payment.debit_outcome = "REUSSI"
        payment.debit_sent_at = utcnow()
        payment.collected_amount = payment.amount
        payment.completed_at = utcnow()
        db.session.commit()


def test_daily_report_lists_discrepancies_first_and_exports_csv(app, client, demo, login_as):
    clean = submit_fine_payment(client, 1)
    _paid(app, clean, 1)
    # Debited, nothing marked, nothing refunded, ended (A_VERIFIER after the budget).
    lost = submit_fine_payment(client, 2)
    _set(app, lost, status="A_VERIFIER", debit_outcome="REUSSI", debit_sent_at=utcnow(), paused_status="DEBITE")
    # A fine marked paid though the debit failed.
    marked = submit_fine_payment(client, 4)
    _set(app, marked, {"mark_outcome": "PAYEE"}, status="ECHEC", debit_outcome="ECHOUE", completed_at=utcnow())
    # Another day: not in today's report.
    old = submit_fine_payment(client, 6)
    _set(app, old, created_at=utcnow() - timedelta(days=3))
    browser = login_as("gestionnaire@amendes.bj")
    page = browser.get("/amendes/rapprochement").get_data(as_text=True)
    assert "Rapprochement des amendes du" in page
    assert "3 paiements reçus ce jour" in page and "2 écarts" in page
    assert "Débit sans amende marquée ni remboursement" in page and "Amende marquée payée sans débit" in page
    assert page.index("APP-000002") < page.index("APP-000001") and page.index("APP-000004") < page.index("APP-000001")
    assert "APP-000006" not in page
    csv = browser.get("/amendes/rapprochement.csv").data.decode("utf-8-sig").splitlines()
    assert csv[0].startswith("Écarts;Référence;Identifiant")
    assert csv[1].startswith("Débit sans amende marquée ni remboursement;APP-000002;")
    assert f";{clean}-debit;Réussi;" in csv[3] and "Payée" in csv[3] and csv[3].startswith(";APP-000001")
    bad = browser.get("/amendes/rapprochement?jour=hier").get_data(as_text=True)
    assert "Date invalide" in bad
    # Another organisation sees none of it.
    client.post("/deconnexion")
    other = login_as("gestionnaire1@cnss.bj").get("/amendes/rapprochement").get_data(as_text=True)
    assert "Aucun paiement reçu ce jour." in other


def test_live_check_asks_the_partners_about_each_discrepancy(app, client, demo, partners, login_as):
    from backoffice.services.fines import saga

    payment_id = submit_fine_payment(client, 1)
    with app.app_context():
        while saga.advance(payment_id, "test") is not None:
            pass
        db.session.remove()
    # Our records lose the marks (as if a worker died after the registry answered).
    _set(app, payment_id, {"mark_outcome": None}, status="A_VERIFIER", paused_status="DEBITE", collected_amount=0)
    browser = login_as("superviseur@amendes.bj")
    page = browser.get("/amendes/rapprochement?verifier=1").get_data(as_text=True)
    assert "Débit sans amende marquée ni remboursement" in page
    assert "Débit chez l&#39;opérateur : réussi" in page
    for numero in body(1)["amendes"]:
        assert f"Registre, amende {numero} : payée par ce paiement" in page
    assert "vérifiés en direct auprès de l'opérateur et du registre : 1" in page


def test_authority_dashboard_per_day_waiting_and_time_to_outcome(app, client, demo, login_as):
    paid = submit_fine_payment(client, 1)
    _paid(app, paid, 1)
    waiting = submit_fine_payment(client, 2)
    _set(app, waiting, status="A_VERIFIER")
    refunded = submit_fine_payment(client, 3)
    _set(app, refunded, status="REMBOURSE", refund_amount=body(3)["montant"], completed_at=utcnow())
    html = login_as("gestionnaire@amendes.bj").get("/amendes/tableau-de-bord").get_data(as_text=True)
    assert "Tableau de bord des amendes" in html
    assert 'data-figure="fines-waiting">1<' in html and "« À vérifier »" in html
    assert 'data-figure="fines-p50">' in html and "Délai jusqu'à l'issue" in html
    today = utcnow().date()
    assert f"{today:%d/%m/%Y}" in html
    row = html[html.index(f"{today:%d/%m/%Y}") :]
    row = row[: row.index("</tr>")]
    amount = f"{body(1)['montant']:,}".replace(",", "\u202f")
    assert amount in row  # collected today
    assert f"{body(3)['montant']:,}".replace(",", "\u202f") in row  # refunded today
