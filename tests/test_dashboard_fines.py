"""Fines collected and refunded on the dashboard: the summary, the page and the CSV export."""

from __future__ import annotations

from datetime import date, datetime

from tests.conftest import login


def test_fines_figures_page_and_export(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models.fines import ApiClient, FinePayment
    from backoffice.services.dashboard.figures import fines_summary
    from backoffice.services.periods import Period

    with app.app_context():
        org = demo["orgs"]["CNSS"]
        api_client = ApiClient(organisation_id=org, name="Application", key_hash="h" * 64, signing_secret="s")
        db.session.add(api_client)
        db.session.flush()

        def payment(n, status, amount, collected=0, refund=0, when=datetime(2026, 9, 10), organisation=org):
            db.session.add(
                FinePayment(
                    organisation_id=organisation,
                    api_client_id=api_client.id,
                    reference=f"r{n}",
                    request_hash="x",
                    telephone="22997000001",
                    amount=amount,
                    currency="XOF",
                    status=status,
                    debit_id=f"d{n}",
                    refund_id=f"f{n}",
                    collected_amount=collected,
                    refund_amount=refund,
                    created_at=when,
                    completed_at=when,
                )
            )

        payment(1, "PAYE", 5000, collected=5000)
        payment(2, "PAYE", 3000, collected=3000)
        payment(3, "REMBOURSE", 2000, refund=2000)
        payment(4, "PAYE", 9999, collected=9999, when=datetime(2026, 8, 1))  # outside the period
        payment(5, "ECHEC", 100)
        payment(6, "PAYE", 7777, collected=7777, organisation=demo["orgs"]["NEXT"])  # another organisation
        db.session.commit()
        summary = fines_summary(org, Period(date(2026, 9, 1), date(2026, 9, 30)))
    assert summary == {"collected_count": 2, "refunded_count": 1, "collected": {"XOF": 8000}, "refunded": {"XOF": 2000}}
    assert login(client, "superviseur@cnss.bj").status_code == 302
    html = client.get("/tableau-de-bord/?date_from=2026-09-01&date_to=2026-09-30").get_data(as_text=True)
    assert "8\u202f000\u202fF CFA" in html and "7\u202f777" not in html
    export = client.get("/tableau-de-bord/export.csv?date_from=2026-09-01&date_to=2026-09-30").data.decode("utf-8-sig")
    assert "Amendes encaissées (montant);XOF;8000" in export
    assert "Amendes remboursées (montant);XOF;2000" in export
