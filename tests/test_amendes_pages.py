"""Back-office pages of the fines area: list and filters, payment page, A_VERIFIER queue, API keys."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import AuditEvent
from backoffice.models.fines import ApiClient, FinePayment, PaymentStatus
from tests.factories import body, submit_fine_payment
from tests.support import AUTH, post


def _set(app, payment_id: str, **values) -> None:
    with app.app_context():
        payment = db.session.get(FinePayment, payment_id)
        for key, value in values.items():
            setattr(payment, key, value)
        db.session.commit()


def test_list_filters_and_organisation_scope(app, client, login_as):
    first = submit_fine_payment(client, 1)
    second = submit_fine_payment(client, 2)
    _set(app, second, status="PAYE")
    page = login_as("gestionnaire@amendes.bj").get("/amendes/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Paiements d'amendes" in html and "APP-000001" in html and "APP-000002" in html
    assert "Reçu" in html and "Payé" in html

    def listed(query: str) -> set[str]:
        text = client.get(f"/amendes/?{query}").get_data(as_text=True)
        return set(re.findall(r"APP-00000\d", text))

    assert listed("statut=PAYE") == {"APP-000002"}
    assert listed("statut=RECU") == {"APP-000001"}
    assert listed(f"telephone={body(1)['telephone']}") == {"APP-000001"}
    assert listed("reference=000002") == {"APP-000002"}
    with app.app_context():
        created = db.session.get(FinePayment, first).created_at
    day = created.strftime("%Y-%m-%d")
    assert listed(f"du={day}&au={day}") == {"APP-000001", "APP-000002"}
    tomorrow = (created + timedelta(days=1)).strftime("%Y-%m-%d")
    assert listed(f"du={tomorrow}") == set()
    bad = client.get("/amendes/?du=31-12-2025").get_data(as_text=True)
    assert "Date invalide" in bad

    client.post("/deconnexion")
    other = login_as("gestionnaire@next.mr")
    assert "APP-000001" not in other.get("/amendes/").get_data(as_text=True)
    assert other.get(f"/amendes/paiements/{first}").status_code == 404


def test_payment_page_shows_fines_and_timeline(app, client, login_as):
    payment_id = submit_fine_payment(client, 1)
    browser = login_as("superviseur@amendes.bj")
    response = browser.get(f"/amendes/paiements/{payment_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Paiement d'amendes APP-000001" in html
    for numero in body(1)["amendes"]:
        assert numero in html
    assert "Déroulé" in html and "Demande reçue de l&#39;application Appli Citoyen" in html
    assert 'hx-trigger="every 2s"' in html  # polls while the payment runs
    assert "En attente" in html and "Non marquée" not in html  # fines not yet marked
    # Superviseurs read only: no action on the page.
    assert "Relancer" not in html and "Clore" not in html
    fragment = browser.get(f"/amendes/paiements/{payment_id}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    _set(app, payment_id, status="PAYE")
    assert browser.get(f"/amendes/paiements/{payment_id}", headers={"HX-Request": "true"}).status_code == 286
    _set(app, payment_id, status="REJETE")  # ended before the registry marked anything
    ended = browser.get(f"/amendes/paiements/{payment_id}", headers={"HX-Request": "true"})
    assert ended.status_code == 286
    assert "Non marquée" in ended.get_data(as_text=True) and "En attente" not in ended.get_data(as_text=True)


def test_superviseur_and_gestionnaire_cannot_act(app, client, login_as):
    payment_id = submit_fine_payment(client, 1)
    _set(app, payment_id, status="A_VERIFIER", paused_status="DEBIT_EN_COURS")
    for email in ("superviseur@amendes.bj", "gestionnaire@amendes.bj"):
        browser = login_as(email)
        assert browser.get("/amendes/a-verifier").status_code == 403
        assert browser.post(f"/amendes/a-verifier/{payment_id}/relancer").status_code == 403
        assert browser.post(f"/amendes/a-verifier/{payment_id}/clore", data={"note": "x"}).status_code == 403
        assert browser.get("/amendes/clients-api").status_code == 403
        browser.post("/deconnexion")
    with app.app_context():
        assert db.session.get(FinePayment, payment_id).status == "A_VERIFIER"


def test_admin_queue_rerun_and_close(app, client, login_as):
    rerun_id = submit_fine_payment(client, 1)
    close_id = submit_fine_payment(client, 2)
    for payment_id in (rerun_id, close_id):
        _set(app, payment_id, status="A_VERIFIER", paused_status="DEBIT_EN_COURS", reason="Issue inconnue")
    admin = login_as("admin@demo.bj")
    queue = admin.get("/amendes/a-verifier").get_data(as_text=True)
    assert "APP-000001" in queue and "APP-000002" in queue and "AMENDES" in queue
    detail = admin.get(f"/amendes/a-verifier/{close_id}").get_data(as_text=True)
    assert "Relancer" in detail and "Clore avec cette note" in detail

    response = admin.post(f"/amendes/a-verifier/{rerun_id}/relancer", follow_redirects=True)
    assert "Paiement APP-000001 relancé." in response.get_data(as_text=True)
    with app.app_context():
        payment = db.session.get(FinePayment, rerun_id)
        assert payment.status == "DEBIT_EN_COURS" and payment.paused_status is None
    assert [job.args for job in app.get_queue().jobs][-1] == (rerun_id,)
    # A second re-run is refused: it is no longer A_VERIFIER.
    again = admin.post(f"/amendes/a-verifier/{rerun_id}/relancer", follow_redirects=True)
    assert "Seul un paiement « À vérifier » peut être relancé." in again.get_data(as_text=True)

    empty = admin.post(f"/amendes/a-verifier/{close_id}/clore", data={"note": "  "}, follow_redirects=True)
    assert "Indiquez ce qui a été vérifié." in empty.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(FinePayment, close_id).status == "A_VERIFIER"
    note = "Vérifié avec l'opérateur : aucun débit."
    closed = admin.post(f"/amendes/a-verifier/{close_id}/clore", data={"note": note}, follow_redirects=True)
    assert "Paiement APP-000002 clos." in closed.get_data(as_text=True)
    with app.app_context():
        payment = db.session.get(FinePayment, close_id)
        assert payment.status == PaymentStatus.CLOTURE and payment.review_note == note
        assert all(item.active_numero is None for item in payment.items)  # the fines may be paid again
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"fines.payment_rerun", "fines.payment_closed"} <= actions
    assert post(client, body(2, reference="APP-NOUVEAU")).status_code == 202


def test_api_key_create_shown_once_then_revoke(app, client, login_as, demo):
    admin = login_as("admin@demo.bj")
    form = admin.get("/amendes/clients-api/nouveau").get_data(as_text=True)
    assert "Nouvelle clé d'API" in form
    missing = admin.post("/amendes/clients-api/nouveau", data={"name": "", "organisation_id": demo["orgs"]["CNSS"]})
    assert "Ce champ est obligatoire." in missing.get_data(as_text=True)
    created = admin.post(
        "/amendes/clients-api/nouveau",
        data={"name": "Portail Trésor", "organisation_id": demo["orgs"]["CNSS"], "scopes": "fines:write"},
    )
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and "n'est affichée qu'une seule fois" in html
    key = re.search(r'data-testid="api-key"><code>([^<]+)</code>', html).group(1)
    with app.app_context():
        stored = db.session.scalar(select(ApiClient).where(ApiClient.name == "Portail Trésor"))
        assert key not in (stored.key_hash, stored.key_prefix) and len(stored.key_hash) == 64
        client_id = stored.id
    listing = admin.get("/amendes/clients-api").get_data(as_text=True)
    assert "Portail Trésor" in listing and key not in listing and key[:8] in listing

    api = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    assert post(api, body(4), headers=headers).status_code == 202

    revoked = admin.post(f"/amendes/clients-api/{client_id}/revoquer", follow_redirects=True)
    assert "Clé de « Portail Trésor » révoquée." in revoked.get_data(as_text=True)
    assert post(api, body(6), headers=headers).status_code == 401
    assert post(api, body(7)).status_code == 202  # the demo key still works
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"api_client.created", "api_client.revoked"} <= actions


def test_navigation_links(client, login_as):
    member = login_as("gestionnaire@amendes.bj").get("/amendes/").get_data(as_text=True)
    assert 'href="/amendes/"' in member and "Clients API" not in member
    client.post("/deconnexion")
    admin = login_as("admin@demo.bj").get("/amendes/a-verifier").get_data(as_text=True)
    assert "Clients API" in admin and "Amendes à vérifier" in admin


def test_demo_seed_creates_the_citizen_app_once(app, demo):
    from backoffice.services.demo import seed_demo

    with app.app_context():
        assert seed_demo() == []  # second run: nothing new
        clients = db.session.scalars(select(ApiClient)).all()
        assert [c.name for c in clients] == ["Appli Citoyen", "Paie CNSS (API)"]
    assert AUTH["Authorization"] == "Bearer demo-amendes-2026"


def test_statuses_reasons_and_steps_read_in_french(app, client, login_as):
    payment_id = submit_fine_payment(client, 1)
    _set(app, payment_id, status="ECHEC", reason_code="SOLDE_INSUFFISANT", reason="Débit refusé par l'opérateur.")
    browser = login_as("gestionnaire@amendes.bj")
    listing = browser.get("/amendes/").get_data(as_text=True)
    assert "Échec" in listing and "Solde insuffisant" in listing
    page = browser.get(f"/amendes/paiements/{payment_id}").get_data(as_text=True)
    assert "Statut du paiement" in page and "Solde insuffisant" in page and "Demande reçue" in page
    assert "Statut de l'amende au registre" in page
    # The raw codes are still there, as secondary detail.
    assert '<small class="muted" title="Codes techniques">(ECHEC · SOLDE_INSUFFISANT)</small>' in page
