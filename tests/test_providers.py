"""Payee providers: admins keep the directory; pages and the dashboard show names by FSP id."""

from __future__ import annotations

import html

from tests.conftest import login


def test_admin_creates_edits_and_deactivates_a_provider_with_audit(app, client, login_as):
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import AuditEvent
    from backoffice.models.providers import PayeeProvider

    login_as("admin@demo.bj")
    assert "Fournisseurs" in client.get("/admin/organisations").get_data(as_text=True)
    response = client.post("/tableau-de-bord/fournisseurs/nouveau", data={"fsp_id": "mtn-bj", "name": "MTN Bénin"})
    assert response.status_code == 302
    duplicate = client.post("/tableau-de-bord/fournisseurs/nouveau", data={"fsp_id": "MTN-BJ", "name": "Autre"})
    assert "Un fournisseur existe déjà avec cet identifiant FSP." in duplicate.get_data(as_text=True)
    bad = client.post("/tableau-de-bord/fournisseurs/nouveau", data={"fsp_id": "a b", "name": "X"})
    assert "L'identifiant FSP doit comporter" in html.unescape(bad.get_data(as_text=True))
    with app.app_context():
        provider = db.session.scalar(select(PayeeProvider))
        provider_id = provider.id
    edit = f"/tableau-de-bord/fournisseurs/{provider_id}"
    assert client.post(edit, data={"fsp_id": "changed", "name": "MTN MoMo Bénin"}).status_code == 302
    assert client.post(f"{edit}/activation").status_code == 302
    listing = client.get("/tableau-de-bord/fournisseurs").get_data(as_text=True)
    assert "MTN MoMo Bénin" in listing and "Désactivé" in listing
    with app.app_context():
        provider = db.session.get(PayeeProvider, provider_id)
        assert (provider.fsp_id, provider.name, provider.active) == ("mtn-bj", "MTN MoMo Bénin", False)
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_type == "PayeeProvider").order_by(AuditEvent.id)
        ).all()
    assert actions == ["provider.created", "provider.updated", "provider.deactivated"]


def test_members_cannot_manage_providers(client, demo):
    assert login(client, "gestionnaire1@cnss.bj").status_code == 302
    assert client.get("/tableau-de-bord/fournisseurs").status_code == 403
    assert client.post("/tableau-de-bord/fournisseurs/nouveau", data={"fsp_id": "x", "name": "y"}).status_code == 403


def test_template_helper_names_providers(app, demo):
    from backoffice.extensions import db
    from backoffice.models.providers import PayeeProvider

    with app.app_context():
        db.session.add(PayeeProvider(fsp_id="wave-sn", name="Wave Sénégal", active=False))
        db.session.commit()
    with app.test_request_context():
        render = app.jinja_env.from_string(
            "{{ payee_provider_name('wave-sn') }}|{{ payee_provider_name('x') }}|{{ payee_provider_name(None) }}"
        )
        assert render.render() == "Wave Sénégal|x|—"
