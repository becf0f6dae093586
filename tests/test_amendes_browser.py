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
