"""The back-office page of webhook endpoints (admins): register one for an API client and its
events, list, test and delete them; a bad URL is a form error naming the field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models.api import WebhookDelivery, WebhookEndpoint
from backoffice.models.audit import AuditEvent
from backoffice.models.fines import ApiClient
from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY, hash_key
from tests.conftest import browser_login

PAGE = "/amendes/clients-api/webhooks/adresses"


def _demo_client_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(ApiClient.id).where(ApiClient.key_hash == hash_key(DEMO_BATCH_CLIENT_KEY)))


def _csrf(client) -> dict:
    """The test app runs with CSRF on: read the token off the page."""
    import re

    html = client.get(PAGE).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    return {"csrf_token": match.group(1)} if match else {}


def _field_errors(html: str, name: str) -> list[str]:
    """The errors shown in the form field holding the input `name`."""
    import html as html_module
    import re

    for block in re.findall(r'<div class="field[^"]*has-error[^"]*">(.*?)</div>', html, re.S):
        if f'name="{name}"' in block:
            return [html_module.unescape(e) for e in re.findall(r'<p class="error">(.*?)</p>', block)]
    return []


def test_an_admin_registers_tests_and_deletes_an_endpoint(app, client, demo, login_as):
    admin = login_as("admin@demo.bj")
    client_id = _demo_client_id(app)
    page = admin.get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Enregistrer une adresse" in html and "Aucun webhook enregistré." in html
    assert "batch.completed" in html and "Lot terminé (compteurs et montants)" in html

    created = admin.post(
        PAGE,
        data={
            "url": "https://8.8.8.8/paie",
            "description": "Paie CNSS",
            "api_client_id": client_id,
            "events": ["batch.approved", "batch.completed"],
            **_csrf(admin),
        },
    )
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    listed = admin.get(PAGE).get_data(as_text=True)
    assert "Webhook https://8.8.8.8/paie enregistré." in listed and "Paie CNSS" in listed
    assert "Adresses enregistrées (1)" in listed
    with app.app_context():
        endpoint = db.session.scalar(select(WebhookEndpoint))
        assert endpoint.events == ["batch.approved", "batch.completed"] and endpoint.api_client_id == client_id
        endpoint_id = endpoint.id
        audited = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.created"))
        assert audited.details["url"] == "https://8.8.8.8/paie"

    tested = admin.post(f"/amendes/clients-api/webhooks/{endpoint_id}/tester", data=_csrf(admin))
    assert tested.status_code == 302 and tested.headers["Location"].endswith(PAGE)
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery.event_type == "webhook.test" and delivery.endpoint_id == endpoint_id
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.tested")) is not None

    deleted = admin.post(f"/amendes/clients-api/webhooks/{endpoint_id}/supprimer", data=_csrf(admin))
    assert deleted.status_code == 302
    assert "Aucun webhook enregistré." in admin.get(PAGE).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.deleted")) is not None
    log = admin.get("/amendes/clients-api/webhooks").get_data(as_text=True)
    assert "webhook.test" in log and "Adresses des webhooks" in log


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.1/hook", "Cette URL mène à une adresse interne"),
        ("https://169.254.169.254/latest/meta-data", "Cette URL mène à une adresse interne"),
        ("pas une adresse", "Cette URL doit être une adresse http(s) complète"),
        ("https://user:pw@8.8.8.8/", "Cette URL ne doit pas contenir d'identifiants"),
        ("", "Ce champ est obligatoire."),
    ],
)
def test_a_bad_url_is_a_form_error_and_writes_nothing(app, client, demo, login_as, url, message):
    admin = login_as("admin@demo.bj")
    response = admin.post(
        PAGE, data={"url": url, "api_client_id": _demo_client_id(app), "events": ["batch.completed"], **_csrf(admin)}
    )
    assert response.status_code == 200
    assert _field_errors(response.get_data(as_text=True), "url")[0].startswith(message)
    with app.app_context():
        assert db.session.scalar(select(WebhookEndpoint)) is None


def test_no_event_or_an_unknown_client_is_refused(app, client, demo, login_as):
    admin = login_as("admin@demo.bj")
    no_event = admin.post(PAGE, data={"url": "https://8.8.8.8/", "api_client_id": _demo_client_id(app), **_csrf(admin)})
    assert "Choisissez au moins un événement." in no_event.get_data(as_text=True)
    unknown = admin.post(
        PAGE, data={"url": "https://8.8.8.8/", "api_client_id": 999999, "events": ["batch.completed"], **_csrf(admin)}
    )
    assert unknown.status_code == 200 and _field_errors(unknown.get_data(as_text=True), "api_client_id") == [
        "N'est pas un choix valide."
    ]
    with app.app_context():
        assert db.session.scalar(select(WebhookEndpoint)) is None


def test_only_admins_reach_the_page(app, client, demo, login_as):
    login_as("gestionnaire1@cnss.bj")
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"url": "https://8.8.8.8/"}).status_code == 403


@pytest.mark.browser
def test_the_page_in_chromium(app, demo, live_server, page):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    browser_login(page, live_server, "admin@demo.bj")
    page.goto(f"{live_server}/amendes/clients-api/webhooks")
    page.click("text=Adresses des webhooks")
    page.fill("input[name=url]", "https://8.8.8.8/paie")
    page.fill("input[name=description]", "Paie CNSS")
    page.click("text=Enregistrer le webhook")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=endpoints]").inner_text().count("https://8.8.8.8/paie") == 1
    assert "Webhook https://8.8.8.8/paie enregistré." in page.content()

    page.fill("input[name=url]", "http://10.0.0.1/interne")
    page.click("text=Enregistrer le webhook")
    page.wait_for_load_state("networkidle")
    error = page.locator(".field.has-error .error").first.inner_text()
    assert error.startswith("Cette URL mène à une adresse interne"), error
    page.screenshot(path="/tmp/webhook-endpoints.png", full_page=True)
    with app.app_context():
        assert [e.url for e in db.session.scalars(select(WebhookEndpoint))] == ["https://8.8.8.8/paie"]
    assert not errors, errors
