"""The gestionnaire's home: colleagues' batches to approve, my drafts, my batches in progress, failures."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.conftest import login
from tests.factories import add_batch


def _home_data(app, demo):
    from backoffice.extensions import db

    with app.app_context():
        add_batch(demo, "À approuver par Koffi", "PENDING_APPROVAL", by="gestionnaire2@cnss.bj")
        add_batch(demo, "Soumis par Koffi", "PENDING_APPROVAL")
        add_batch(demo, "Brouillon de Koffi", "DRAFT")
        add_batch(demo, "Brouillon d'Aïcha", "DRAFT", by="gestionnaire2@cnss.bj")
        add_batch(demo, "Paiement en cours", "PROCESSING")
        add_batch(demo, "Échec récent", "FAILED", completed_at=datetime.utcnow() - timedelta(days=1))
        add_batch(demo, "Échec ancien", "FAILED", completed_at=datetime.utcnow() - timedelta(days=30))
        add_batch(demo, "Lot de Next", "PENDING_APPROVAL", by="gestionnaire@next.mr", org="NEXT")
        db.session.commit()


def _section(html: str, marker: str) -> str:
    start = html.find(f'data-home="{marker}"')
    return html[start : html.find("</table>", start) if start >= 0 else start] if start >= 0 else ""


def test_gestionnaire_sees_what_waits_for_them(app, client, demo):
    _home_data(app, demo)
    assert login(client, "gestionnaire1@cnss.bj").status_code == 302
    html = client.get("/").get_data(as_text=True)
    to_approve = _section(html, "to-approve")
    assert "À approuver par Koffi" in to_approve and "Soumis par Koffi" not in to_approve
    assert "Aïcha Dossou" in to_approve
    drafts = _section(html, "drafts")
    assert "Brouillon de Koffi" in drafts and "Brouillon d&#39;Aïcha" not in drafts
    assert "Paiement en cours" in html[html.find('data-home="in-progress"') :]
    failures = _section(html, "failures")
    assert "Échec récent" in failures and "Échec ancien" not in failures
    assert "Lot de Next" not in html


def test_colleague_sees_the_other_side(app, client, demo):
    _home_data(app, demo)
    assert login(client, "gestionnaire2@cnss.bj").status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert "Soumis par Koffi" in _section(html, "to-approve")
    assert "À approuver par Koffi" not in _section(html, "to-approve")
    assert "Aucun lot en cours de paiement." in html


def test_superviseur_sees_progress_and_failures_only(app, client, demo):
    _home_data(app, demo)
    assert login(client, "superviseur@cnss.bj").status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert 'data-home="to-approve"' not in html and 'data-home="drafts"' not in html
    assert "Paiement en cours" in html and "Échec récent" in html


def test_empty_home_says_so(client, demo):
    assert login(client, "gestionnaire1@cnss.bj").status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert "Aucun lot en attente de votre approbation." in html
    assert "Aucun brouillon." in html
