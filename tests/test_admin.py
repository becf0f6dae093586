"""Platform administration: organisations, users, payer accounts, through the real pages."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import login


def _html(response) -> str:
    return html_lib.unescape(response.get_data(as_text=True))


def _field_error(page: str, name: str) -> str | None:
    """The French error shown right after the input named `name`, if any."""
    match = re.search(
        rf'<(?:input|select|textarea)[^>]*\bname="{name}"[^>]*>(?:[^<]*</(?:select|textarea)>)?\s*'
        r'(?:<option[^>]*>[^<]*</option>\s*)*(?:</select>\s*)?<p class="error">([^<]+)</p>',
        page,
        re.S,
    )
    return match.group(1) if match else None


def _audit_actions(app) -> list[str]:
    from backoffice.extensions import db
    from backoffice.models import AuditEvent

    with app.app_context():
        return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


@pytest.fixture
def admin(login_as):
    return login_as("admin@demo.bj")


# Organisations ---------------------------------------------------------------------------


def test_admin_lands_on_organisations(admin):
    response = admin.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/organisations"
    page = _html(admin.get("/admin/organisations"))
    assert "CNSS Bénin" in page and "Next.mr" in page


def test_create_organisation_and_field_errors(app, admin):
    bad = _html(admin.post("/admin/organisations/nouvelle", data={"code": "x y", "name": "Caisse"}))
    assert "Le code doit comporter 2 à 32 lettres majuscules" in _field_error(bad, "code")
    duplicate = _html(admin.post("/admin/organisations/nouvelle", data={"code": "cnss", "name": "Autre"}))
    assert _field_error(duplicate, "code") == "Une organisation existe déjà avec ce code."
    missing = _html(admin.post("/admin/organisations/nouvelle", data={"code": "", "name": ""}))
    assert _field_error(missing, "code") == "Ce champ est obligatoire."
    assert _field_error(missing, "name") == "Ce champ est obligatoire."

    response = admin.post("/admin/organisations/nouvelle", data={"code": "cnpr", "name": "Caisse de retraite"})
    assert response.status_code == 302
    listing = _html(admin.get("/admin/organisations"))
    assert "Organisation CNPR créée." in listing
    assert "Caisse de retraite" in listing
    assert _audit_actions(app).count("organisation.created") == 4  # 3 by the seed + this one


def test_edit_organisation(app, admin, demo):
    org_id = demo["orgs"]["NEXT"]
    form = _html(admin.get(f"/admin/organisations/{org_id}"))
    assert "Modifier l’organisation NEXT" in form
    response = admin.post(f"/admin/organisations/{org_id}", data={"code": "NEXT", "name": "Next Mauritanie"})
    assert response.status_code == 302
    assert "Next Mauritanie" in _html(admin.get("/admin/organisations"))
    assert "organisation.updated" in _audit_actions(app)


def test_deactivate_organisation_blocks_its_users(app, client, admin, demo):
    org_id = demo["orgs"]["NEXT"]
    response = admin.post(f"/admin/organisations/{org_id}/activation")
    assert response.status_code == 302
    assert "Organisation NEXT désactivée." in _html(admin.get("/admin/organisations"))
    assert "organisation.deactivated" in _audit_actions(app)
    admin.post("/deconnexion")
    refused = login(client, "gestionnaire@next.mr")
    assert refused.status_code == 200
    assert "Adresse e-mail ou mot de passe incorrect." in _html(refused)
    # Reactivated: they sign in again.
    login(client, "admin@demo.bj")
    client.post(f"/admin/organisations/{org_id}/activation")
    client.post("/deconnexion")
    assert login(client, "gestionnaire@next.mr").status_code == 302
    assert "organisation.activated" in _audit_actions(app)


# Users -----------------------------------------------------------------------------------


def _create_user(admin, demo, **overrides):
    data = {
        "email": "nouvelle@cnss.bj",
        "first_name": "Adjoa",
        "last_name": "Kpossou",
        "phone": "+229 97 00 00 00",
        "organisation_id": str(demo["orgs"]["CNSS"]),
        "role": "GESTIONNAIRE",
    }
    data.update(overrides)
    return admin.post("/admin/utilisateurs/nouveau", data=data)


def _link_in(body: str) -> str:
    return re.search(r"(http://\S+/invitation/\S+)", body).group(1)


def test_create_user_emails_an_invitation_link(app, client, admin, demo):
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services.mail import outbox_messages

    response = _create_user(admin, demo)
    assert response.status_code == 302
    detail = _html(admin.get(response.headers["Location"]))
    assert "une invitation a été envoyée à nouvelle@cnss.bj" in detail and "Renvoyer l'invitation" in detail

    with app.app_context():
        messages = outbox_messages()
        user = db.session.scalar(select(User).where(User.email == "nouvelle@cnss.bj"))
        stored = user.invitation_hash
    assert len(messages) == 1
    mail = messages[0]
    assert mail["To"] == "nouvelle@cnss.bj"
    assert mail["Subject"] == "Votre accès au back-office"
    body = mail.get_content()
    assert "Bonjour Adjoa" in body and "valable 72 heures" in body and "Mot de passe" not in body
    link = _link_in(body)
    token = link.rsplit("/", 1)[1]
    assert token not in stored and token not in detail  # hashed, and never on the admin's screen
    assert "user.created" in _audit_actions(app)

    # Sending it again replaces the link.
    admin.post(f"/admin/utilisateurs/{user.id}/invitation")
    with app.app_context():
        newer = _link_in(outbox_messages()[-1].get_content())
    assert newer != link
    visitor = app.test_client()
    path = "/" + link.split("/", 3)[3]
    assert visitor.get(path).status_code == 404  # the first link stopped working
    path = "/" + newer.split("/", 3)[3]
    page = visitor.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    weak = _html(visitor.post(path, data={"new": "motdepasse12", "confirm": "motdepasse12"}))
    assert "trop courant" in weak
    chosen = visitor.post(path, data={"new": "Mon-Secret-Baobab-2026", "confirm": "Mon-Secret-Baobab-2026"})
    # A gestionnaire goes on to enrol the second factor.
    assert chosen.status_code == 302 and chosen.headers["Location"].endswith("/connexion/enrolement")
    assert visitor.get(path).status_code == 404  # single use
    assert "user.invitation_accepted" in _audit_actions(app)
    other = app.test_client()
    assert login(other, "nouvelle@cnss.bj", "Mon-Secret-Baobab-2026").status_code == 302
    assert "Bonjour Adjoa" in _html(other.get("/"))


def test_an_expired_invitation_is_refused(app, client, admin, demo):
    from datetime import timedelta

    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services.mail import outbox_messages

    _create_user(admin, demo)
    with app.app_context():
        link = _link_in(outbox_messages()[-1].get_content())
        user = db.session.scalar(select(User).where(User.email == "nouvelle@cnss.bj"))
        user.invitation_expires_at -= timedelta(hours=73)
        db.session.commit()
    response = app.test_client().get("/" + link.split("/", 3)[3])
    assert response.status_code == 404 and "Lien invalide ou expiré" in _html(response)


def test_a_password_reset_sends_a_link_and_the_old_password_stops(app, client, admin, demo):
    from backoffice.services.mail import outbox_messages

    user_id = demo["users"]["superviseur@cnss.bj"]
    response = admin.post(f"/admin/utilisateurs/{user_id}/mot-de-passe")
    assert response.status_code == 302
    with app.app_context():
        mail = outbox_messages()[-1]
    assert mail["Subject"] == "Réinitialisation de votre accès au back-office"
    assert "Adresse e-mail ou mot de passe incorrect." in _html(login(app.test_client(), "superviseur@cnss.bj"))


def test_create_user_field_errors(app, admin, demo):
    duplicate = _html(_create_user(admin, demo, email="Gestionnaire1@cnss.bj"))
    assert _field_error(duplicate, "email") == "Un utilisateur existe déjà avec cette adresse e-mail."
    invalid = _html(_create_user(admin, demo, email="pas-un-email", phone="abc", first_name=""))
    assert _field_error(invalid, "email") == "Adresse e-mail invalide."
    assert _field_error(invalid, "phone") == "Numéro de téléphone invalide."
    assert _field_error(invalid, "first_name") == "Ce champ est obligatoire."
    no_org = _html(_create_user(admin, demo, organisation_id="0"))
    assert "appartient à une organisation" in _field_error(no_org, "organisation_id")
    bad_choice = _html(_create_user(admin, demo, role="CHEF"))
    assert _field_error(bad_choice, "role") == "N'est pas un choix valide."
    with app.app_context():
        from backoffice.extensions import db
        from backoffice.models import User
        from backoffice.services.mail import outbox_messages

        assert db.session.scalar(select(func.count()).select_from(User)) == 8 + 2  # + the demo API clients' technical users
        assert outbox_messages() == []


def test_reset_password_role_and_deactivation(app, client, admin, demo):
    from backoffice.services.mail import outbox_messages

    user_id = demo["users"]["gestionnaire2@cnss.bj"]
    detail = _html(admin.get(f"/admin/utilisateurs/{user_id}"))
    assert "Aïcha Dossou" in detail and "Réinitialiser le mot de passe" in detail

    reset = _html(admin.post(f"/admin/utilisateurs/{user_id}/mot-de-passe", follow_redirects=True))
    assert "Mot de passe réinitialisé : un lien pour en choisir un nouveau a été envoyé" in reset
    with app.app_context():
        (mail,) = outbox_messages()
    assert mail["Subject"] == "Réinitialisation de votre accès au back-office"
    link = _link_in(mail.get_content())
    assert link.rsplit("/", 1)[1] not in reset

    assert admin.post(f"/admin/utilisateurs/{user_id}/role", data={"role": "SUPERVISEUR"}).status_code == 302
    assert "Superviseur" in _html(admin.get(f"/admin/utilisateurs/{user_id}"))
    bad_role = admin.post(f"/admin/utilisateurs/{user_id}/role", data={"role": "ROI"}, follow_redirects=True)
    assert "Rôle invalide." in _html(bad_role)

    # The old demo password no longer works; the link gives a new one (the second factor stays).
    admin.post("/deconnexion")
    assert login(client, "gestionnaire2@cnss.bj").status_code == 200
    password = "Nouveau-Baobab-Secret-9"
    chosen = client.post("/" + link.split("/", 3)[3], data={"new": password, "confirm": password})
    assert chosen.headers["Location"].endswith("/connexion/code")
    client.delete_cookie("session")
    assert login(client, "gestionnaire2@cnss.bj", password).headers["Location"] == "/"
    client.post("/deconnexion")

    login(client, "admin@demo.bj")
    assert client.post(f"/admin/utilisateurs/{user_id}/activation").status_code == 302
    assert "Désactivé" in _html(client.get(f"/admin/utilisateurs/{user_id}"))
    client.post("/deconnexion")
    assert "incorrect" in _html(login(client, "gestionnaire2@cnss.bj", password))

    actions = _audit_actions(app)
    for action in ("user.password_reset", "user.role_changed", "user.deactivated"):
        assert action in actions


def test_admin_cannot_deactivate_themselves(app, admin, demo):
    user_id = demo["users"]["admin@demo.bj"]
    page = _html(admin.post(f"/admin/utilisateurs/{user_id}/activation", follow_redirects=True))
    assert "Vous ne pouvez pas désactiver votre propre compte." in page
    assert "user.deactivated" not in _audit_actions(app)


def test_user_list_filters(admin, demo):
    by_org = _html(admin.get("/admin/utilisateurs", query_string={"organisation": demo["orgs"]["NEXT"]}))
    assert "gestionnaire@next.mr" in by_org and "gestionnaire1@cnss.bj" not in by_org
    by_text = _html(admin.get("/admin/utilisateurs", query_string={"q": "dossou"}))
    assert "gestionnaire2@cnss.bj" in by_text and "superviseur@cnss.bj" not in by_text


# Payer accounts --------------------------------------------------------------------------


def test_create_account_and_top_up(app, admin, demo):
    from backoffice.extensions import db
    from backoffice.models import Account, LedgerEntry

    listing = _html(admin.get("/admin/comptes"))
    assert "ACC-CNSS-001" in listing and "500\u202f000\u202f000\u202fF CFA" in listing

    data = {
        "organisation_id": str(demo["orgs"]["CNSS"]),
        "account_id": "acc-cnss-002",
        "label": "Allocations",
        "currency": "XOF",
        "party_id_type": "BUSINESS",
        "party_id_value": "CNSS-BJ-2",
    }
    duplicate = _html(admin.post("/admin/comptes/nouveau", data={**data, "account_id": "ACC-CNSS-001"}))
    assert _field_error(duplicate, "account_id") == "Un compte existe déjà avec cet identifiant."
    response = admin.post("/admin/comptes/nouveau", data=data)
    assert response.status_code == 302
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.account_id == "ACC-CNSS-002"))
        assert (account.balance, account.reserved) == (0, 0)
        account_id = account.id

    topup_url = f"/admin/comptes/{account_id}/approvisionnement"
    cents = _html(admin.post(topup_url, data={"amount": "1000,50", "reason": "Budget"}))
    assert _field_error(cents, "amount") == "XOF n'a pas de centimes : « 1000,50 »."
    garbage = _html(admin.post(topup_url, data={"amount": "mille", "reason": "Budget"}))
    assert _field_error(garbage, "amount") == "Montant illisible : « mille »."
    negative = _html(admin.post(topup_url, data={"amount": "-5", "reason": "Budget"}))
    assert _field_error(negative, "amount") == "Le montant doit être positif."
    no_reason = _html(admin.post(topup_url, data={"amount": "1000", "reason": ""}))
    assert _field_error(no_reason, "reason") == "Ce champ est obligatoire."

    ok = admin.post(topup_url, data={"amount": "2 500 000", "reason": "Budget de juin"})
    assert ok.status_code == 302
    assert "un autre administrateur doit l'approuver" in _html(admin.get(f"/admin/comptes/{account_id}"))
    with app.app_context():
        assert db.session.get(Account, account_id).balance == 0  # nothing moves before the approval
    top_up_id = _pending_top_up_id(app)
    # The admin who asked cannot approve.
    own = admin.post(f"/admin/approvisionnements/{top_up_id}/approuver", data={"reason": "OK"}, follow_redirects=True)
    assert "un autre administrateur que celui qui l'a demandé" in _html(own)

    second = _second_admin(app)
    second.post(f"/admin/approvisionnements/{top_up_id}/approuver", data={"reason": "Virement reçu le 3 juin"})
    detail = _html(second.get(f"/admin/comptes/{account_id}"))
    assert "Approvisionnement" in detail and "Budget de juin" in detail and "Moussa Diallo" in detail
    assert "2\u202f500\u202f000\u202fF CFA" in detail
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert account.balance == 2_500_000
        entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.account_id == account_id)).all()
        assert [(e.kind, e.amount) for e in entries] == [("TOPUP", 2_500_000)]
    # Decided once: approving again changes nothing.
    again = second.post(f"/admin/approvisionnements/{top_up_id}/approuver", data={"reason": "x"}, follow_redirects=True)
    assert "déjà été traitée" in _html(again)
    actions = _audit_actions(app)
    assert "account.created" in actions and "account.top_up_requested" in actions
    assert actions.count("account.topped_up") == 1


def _pending_top_up_id(app) -> int:
    from backoffice.extensions import db
    from backoffice.models.approvals import TopUpRequest

    with app.app_context():
        return db.session.scalars(
            select(TopUpRequest.id).where(TopUpRequest.status == "PENDING").order_by(TopUpRequest.id.desc())
        ).first()


def _second_admin(app):
    from tests.conftest import login

    other = app.test_client()
    assert login(other, "admin2@demo.bj").status_code == 302
    return other


def test_top_up_in_a_currency_with_cents(app, admin, demo):
    from backoffice.extensions import db
    from backoffice.models import Account

    account_id = demo["accounts"]["ACC-NEXT-001"]
    url = f"/admin/comptes/{account_id}/approvisionnement"
    three = _html(admin.post(url, data={"amount": "10,505", "reason": "x"}))
    assert _field_error(three, "amount") == "MRU n'a que 2 décimales : « 10,505 »."
    assert admin.post(url, data={"amount": "1 500,50", "reason": "Complément"}).status_code == 302
    second = _second_admin(app)
    second.post(f"/admin/approvisionnements/{_pending_top_up_id(app)}/approuver", data={"reason": "Reçu"})
    with app.app_context():
        assert db.session.get(Account, account_id).balance == 50_000_000 + 150_050
    assert "1\u202f500,50\u202fMRU" in _html(admin.get(f"/admin/comptes/{account_id}"))


def test_a_refused_top_up_never_moves_the_balance(app, admin, demo):
    from backoffice.extensions import db
    from backoffice.models import Account

    account_id = demo["accounts"]["ACC-CNSS-001"]
    admin.post(f"/admin/comptes/{account_id}/approvisionnement", data={"amount": "5 000", "reason": "Essai"})
    second = _second_admin(app)
    top_up_id = _pending_top_up_id(app)
    no_reason = second.post(
        f"/admin/approvisionnements/{top_up_id}/refuser", data={"reason": ""}, follow_redirects=True
    )
    assert "Le motif de la décision est obligatoire." in _html(no_reason)
    page = _html(second.get("/admin/approvisionnements"))
    assert "Essai" in page and "Awa Admin" in page
    second.post(f"/admin/approvisionnements/{top_up_id}/refuser", data={"reason": "Aucun justificatif"})
    with app.app_context():
        assert db.session.get(Account, account_id).balance == 500_000_000
    assert "Aucune demande en attente." in _html(second.get("/admin/approvisionnements"))
    assert "account.top_up_refused" in _audit_actions(app)


def test_lists_paginate(app, admin, demo):
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services import ledger
    from backoffice.services import organisations as org_service

    with app.app_context():
        actor = db.session.get(User, demo["users"]["admin@demo.bj"])
        for n in range(11):  # + the 3 demo organisations
            org_service.create_organisation(actor, f"ORG{n:02d}", f"Organisation {n:02d}")
        for n in range(7):
            ledger.credit(demo["accounts"]["ACC-CNSS-001"], 10 + n, f"encaissement-{n}")
        db.session.commit()
    app.config["PAGE_SIZE"] = 5
    try:
        first = _html(admin.get("/admin/organisations"))
        assert "Page 1 sur 3" in first and "14 éléments" in first
        assert "Suivante »" in first and "« Précédente" not in first
        third = _html(admin.get("/admin/organisations?page=3"))
        assert "Page 3 sur 3" in third and "« Précédente" in third
        codes = re.findall(r"<td><strong>([A-Z0-9]+)</strong></td>", third)
        assert len(codes) == 4
        # Filters survive page changes.
        filtered = _html(admin.get("/admin/organisations?q=org"))
        assert "Page 1 sur 3" in filtered and "q=org" in filtered
        users = _html(admin.get("/admin/utilisateurs"))
        assert "8 éléments" in users
        ledger_page = _html(admin.get(f"/admin/comptes/{demo['accounts']['ACC-CNSS-001']}?page=2"))
        assert "Page 2 sur 2" in ledger_page and "Solde d'ouverture" in ledger_page
        assert admin.get("/admin/organisations?page=99").status_code == 200
    finally:
        app.config["PAGE_SIZE"] = 25


def test_every_admin_action_is_audited(app, admin, demo):
    """Each change through the admin pages leaves exactly one audit event with its actor and IP."""
    from backoffice.extensions import db
    from backoffice.models import AuditEvent

    admin_id = demo["users"]["admin@demo.bj"]
    org_id = demo["orgs"]["NEXT"]
    user_id = demo["users"]["superviseur@cnss.bj"]
    account_id = demo["accounts"]["ACC-NEXT-001"]
    actions = [
        ("/admin/organisations/nouvelle", {"code": "AUD", "name": "Audit"}, "organisation.created"),
        (f"/admin/organisations/{org_id}", {"code": "NEXT", "name": "Next"}, "organisation.updated"),
        (f"/admin/organisations/{org_id}/activation", {}, "organisation.deactivated"),
        (f"/admin/organisations/{org_id}/activation", {}, "organisation.activated"),
        (f"/admin/utilisateurs/{user_id}/role", {"role": "GESTIONNAIRE"}, "user.role_changed"),
        (f"/admin/utilisateurs/{user_id}/mot-de-passe", {}, "user.password_reset"),
        (f"/admin/utilisateurs/{user_id}/activation", {}, "user.deactivated"),
        (f"/admin/utilisateurs/{user_id}/activation", {}, "user.activated"),
        (f"/admin/comptes/{account_id}/approvisionnement", {"amount": "10", "reason": "x"}, "account.top_up_requested"),
    ]
    for url, data, action in actions:
        with app.app_context():
            before = db.session.scalar(select(func.max(AuditEvent.id))) or 0
        response = admin.post(url, data=data)
        assert response.status_code in (200, 302), url
        with app.app_context():
            events = db.session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
            assert [e.action for e in events] == [action], url
            assert events[0].user_id == admin_id and events[0].ip == "127.0.0.1"


def test_an_organisation_s_country_reads_national_numbers(app, admin, demo):
    """The country set by the admin is the default country of numbers written without their code."""
    from backoffice.extensions import db
    from backoffice.models import Organisation

    org_id = demo["orgs"]["NEXT"]
    assert "Mauritanie" in _html(admin.get(f"/admin/organisations/{org_id}"))
    data = {"code": "NEXT", "name": "Next.mr", "timezone": "Africa/Nouakchott", "country": "SN"}
    assert admin.post(f"/admin/organisations/{org_id}", data=data).status_code == 302
    with app.app_context():
        assert db.session.get(Organisation, org_id).country == "SN"
    refused = admin.post(f"/admin/organisations/{org_id}", data={**data, "country": "XX"})
    assert refused.status_code == 200 and "Not a valid choice" not in _html(refused)
    with app.app_context():
        assert db.session.get(Organisation, org_id).country == "SN"
