"""Demo data for development and the run command: idempotent, safe to run twice."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Account, Organisation, Role, User
from backoffice.services import ServiceError, audit, ledger, twofactor
from backoffice.services.api_clients import seed_demo_client
from backoffice.services.beneficiaries import seed_demo_list
from backoffice.services.users import hash_password

DEMO_PASSWORD = "Demo-2026!"
# Every demo user's second factor: printed by `make run` and in the README.
DEMO_TOTP_SECRET = twofactor.DEMO_TOTP_SECRET

# AMENDES is the traffic authority: it owns the fines API client and collects the fines.
DEMO_ORGANISATIONS = [
    ("CNSS", "CNSS Bénin", "Africa/Porto-Novo", "BJ"),
    ("NEXT", "Next.mr", "Africa/Nouakchott", "MR"),
    ("AMENDES", "Direction des amendes (démo)", "Africa/Porto-Novo", "BJ"),
]

# email, first name, last name, role, admin, organisation code
DEMO_USERS = [
    ("admin@demo.bj", "Awa", "Admin", Role.GESTIONNAIRE, True, None),
    # A second administrator: top-ups need one admin to ask and another to approve.
    ("admin2@demo.bj", "Moussa", "Diallo", Role.GESTIONNAIRE, True, None),
    ("gestionnaire1@cnss.bj", "Koffi", "Agossou", Role.GESTIONNAIRE, False, "CNSS"),
    ("gestionnaire2@cnss.bj", "Aïcha", "Dossou", Role.GESTIONNAIRE, False, "CNSS"),
    ("superviseur@cnss.bj", "Rémi", "Houngbédji", Role.SUPERVISEUR, False, "CNSS"),
    ("gestionnaire@next.mr", "Mariem", "Ould Ahmed", Role.GESTIONNAIRE, False, "NEXT"),
    ("gestionnaire@amendes.bj", "Fatou", "Zinsou", Role.GESTIONNAIRE, False, "AMENDES"),
    ("superviseur@amendes.bj", "Serge", "Adjovi", Role.SUPERVISEUR, False, "AMENDES"),
]

# account id, organisation code, currency, party id type, party id value, opening balance
DEMO_ACCOUNTS = [
    ("ACC-CNSS-001", "CNSS", "XOF", "BUSINESS", "CNSS-BJ", 500_000_000, "Pensions"),
    ("ACC-NEXT-001", "NEXT", "MRU", "BUSINESS", "NEXT-MR", 50_000_000, "Paiements de masse"),
    ("ACC-AMENDES-001", "AMENDES", "XOF", "BUSINESS", "AMENDES-BJ", 0, "Encaissement des amendes"),
]


def seed_demo() -> list[str]:
    """Create what is missing of the demo; returns what was created (empty on a second run).

    Its passwords, TOTP secret and API key are public: refused in production.
    """
    if current_app.config["APP_ENV"] == "production":
        raise ServiceError("Les données de démonstration sont refusées en production (APP_ENV=production).")
    created: list[str] = []
    orgs: dict[str, Organisation] = {}
    for code, name, timezone, country in DEMO_ORGANISATIONS:
        org = db.session.scalar(select(Organisation).where(Organisation.code == code))
        if org is None:
            org = Organisation(code=code, name=name, timezone=timezone, country=country)
            db.session.add(org)
            db.session.flush()
            audit.record(None, "organisation.created", org, source="seed-demo")
            created.append(f"organisation {code}")
        orgs[code] = org
    password_hash = None
    for email, first, last, role, is_admin, org_code in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.email == email)):
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        user = User(
            email=email,
            first_name=first,
            last_name=last,
            role=role.value,
            is_admin=is_admin,
            organisation_id=orgs[org_code].id if org_code else None,
            password_hash=password_hash,
            must_change_password=False,
        )
        twofactor.set_demo_factor(user)
        db.session.add(user)
        db.session.flush()
        audit.record(None, "user.created", user, source="seed-demo")
        created.append(f"user {email}")
    for account_id, org_code, currency, id_type, id_value, opening, label in DEMO_ACCOUNTS:
        if db.session.scalar(select(Account.id).where(Account.account_id == account_id)):
            continue
        account = Account(
            organisation_id=orgs[org_code].id,
            account_id=account_id,
            label=label,
            currency=currency,
            party_id_type=id_type,
            party_id_value=id_value,
        )
        db.session.add(account)
        db.session.flush()
        if opening:
            ledger.top_up(account.id, opening, "Solde d'ouverture (démo)", None)
        audit.record(None, "account.created", account, source="seed-demo")
        created.append(f"account {account_id}")
    created.extend(seed_demo_client(orgs))
    created.extend(seed_demo_list(orgs))
    return created
