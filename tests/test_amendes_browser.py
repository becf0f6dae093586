"""The payment page in Chromium: it follows a running payment live (HTMX polling under the CSP)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from backoffice.extensions import db
from backoffice.models.fines import FinePayment
from tests.conftest import browser_login
from tests.factories import body
from tests.support import post


@pytest.mark.browser
def test_payment_page_follows_the_payment_live(app, client, demo, live_server, page):
    payment_id = post(client, body(1)).get_json()["id"]
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    browser_login(page, live_server, "superviseur@amendes.bj")
    page.goto(f"{live_server}/amendes/")
    page.click("text=APP-000001")
    status = page.locator("[data-testid=payment-status]")
    assert status.inner_text() == "Reçu"
    with app.app_context():
        payment = db.session.get(FinePayment, payment_id)
        payment.status = "PAYE"
        db.session.commit()
    expect(page.locator("[data-testid=payment-status]")).to_have_text("Payé", timeout=15_000)
    assert "Relancer" not in page.content()
    assert not [e for e in errors if "Content Security Policy" in e]


@pytest.mark.browser
def test_authority_walk_in_french(app, client, demo, live_server, page):
    """The traffic authority's superviseur: list, payment, dashboard and reconciliation, all in French."""
    payment_id = post(client, body(1)).get_json()["id"]
    with app.app_context():
        payment = db.session.get(FinePayment, payment_id)
        payment.status, payment.reason_code = "ECHEC", "SOLDE_INSUFFISANT"
        payment.reason = "Débit refusé par l'opérateur : Solde mobile money insuffisant."
        payment.debit_outcome = "ECHOUE"
        db.session.commit()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    browser_login(page, live_server, "superviseur@amendes.bj")
    page.goto(f"{live_server}/amendes/")
    expect(page.locator("h1")).to_have_text("Paiements d'amendes")
    expect(page.locator("table")).to_contain_text("Solde insuffisant")
    page.click("text=APP-000001")
    expect(page.locator("[data-testid=payment-status]")).to_have_text("Échec")
    expect(page.locator("body")).to_contain_text("Statut de l'amende au registre")
    expect(page.locator(".timeline")).to_contain_text("Demande reçue de l'application Appli Citoyen : 2 amendes")
    page.goto(f"{live_server}/amendes/")
    page.click("text=Tableau de bord des amendes")
    expect(page.locator("h1")).to_have_text("Tableau de bord des amendes")
    expect(page.locator("body")).to_contain_text("En attente d'une personne")
    page.click("text=Rapprochement du jour")
    expect(page.locator("h1")).to_contain_text("Rapprochement des amendes du")
    expect(page.locator("[data-testid=reconciliation-summary]")).to_contain_text(
        "1 paiement reçu ce jour, aucun écart."
    )
    assert not [e for e in errors if "Content Security Policy" in e]
