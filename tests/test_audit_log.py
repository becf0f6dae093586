"""The audit log page, and a walk through every mutating route expecting an audit event."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from tests.conftest import _demo_ids, _empty_tables, login
from tests.factories import BUILDERS, cnss_entry, make_approved_batch

AUDIT = "/tableau-de-bord/audit"


def _events(app, demo):
    """A few events in each organisation, one of them last year."""
    from backoffice.extensions import db
    from backoffice.models import AuditEvent, Organisation, User
    from backoffice.services import audit

    with app.app_context():
        g1 = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
        g_next = db.session.get(User, demo["users"]["gestionnaire@next.mr"])
        cnss = db.session.get(Organisation, demo["orgs"]["CNSS"])
        audit.record(g1, "batch.submitted", cnss, note="secret-cnss")
        audit.record(g_next, "batch.submitted", g_next, note="secret-next")
        old = audit.record(g1, "batch.approved", cnss, note="=1+1")
        db.session.flush()
        old.created_at = datetime(2025, 3, 1, 12, 0)
        db.session.commit()
        return db.session.query(AuditEvent).count()


def test_admin_sees_every_organisation(app, client, demo):
    _events(app, demo)
    assert login(client, "admin@demo.bj").status_code == 302
    page = client.get(AUDIT).get_data(as_text=True)
    assert "secret-cnss" in page and "secret-next" in page
    assert "Toutes les organisations." in page


def test_superviseur_sees_only_their_organisation_page_and_export(app, client, demo):
    _events(app, demo)
    assert login(client, "superviseur@cnss.bj").status_code == 302
    page = client.get(AUDIT).get_data(as_text=True)
    assert "secret-cnss" in page and "secret-next" not in page
    assert "gestionnaire@next.mr" not in page  # nor in the user filter
    export = client.get(f"{AUDIT}/export.csv").data
    assert export.startswith(b"\xef\xbb\xbf")
    text = export.decode("utf-8-sig")
    assert "secret-cnss" in text and "secret-next" not in text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][0] == "Date, heure de Porto-Novo (UTC+01:00)"
    assert not any(c.startswith(("=", "+", "-", "@")) for r in rows for c in r)
    client.delete_cookie("session")
    assert login(client, "gestionnaire@next.mr").status_code == 302
    assert "secret-cnss" not in client.get(AUDIT).get_data(as_text=True)
    assert "secret-cnss" not in client.get(f"{AUDIT}/export.csv").data.decode("utf-8-sig")


def test_filters_and_pagination(app, client, demo):
    _events(app, demo)
    assert login(client, "admin@demo.bj").status_code == 302
    g1 = demo["users"]["gestionnaire1@cnss.bj"]
    by_user = client.get(f"{AUDIT}?user={g1}").get_data(as_text=True)
    assert "secret-cnss" in by_user and "secret-next" not in by_user
    by_action = client.get(f"{AUDIT}?action=batch.approved").get_data(as_text=True)
    assert "=1+1" in by_action and "secret-cnss" not in by_action
    by_object = client.get(f"{AUDIT}?object_type=User&action=batch").get_data(as_text=True)
    assert "secret-next" in by_object and "secret-cnss" not in by_object
    by_date = client.get(f"{AUDIT}?date_from=2025-01-01&date_to=2025-12-31").get_data(as_text=True)
    assert "=1+1" in by_date and "secret-cnss" not in by_date
    export = client.get(f"{AUDIT}/export.csv?date_from=2025-01-01&date_to=2025-12-31").data.decode("utf-8-sig")
    assert len(export.strip().splitlines()) == 2 and '""note"": ""=1+1""' in export

    from backoffice.extensions import db
    from backoffice.services import audit

    with app.app_context():
        for i in range(60):
            audit.record(None, "test.filler", None, organisation_id=demo["orgs"]["CNSS"], n=i)
        db.session.commit()
    page = client.get(f"{AUDIT}?action=test.filler").get_data(as_text=True)
    assert "Page 1 sur 3" in page
    assert "Page 3 sur 3" in client.get(f"{AUDIT}?action=test.filler&page=3").get_data(as_text=True)


# Every mutating route writes an audit event ------------------------------------------------
#
# endpoint → (who posts, form data, the audit action expected). Form data may be a function of
# the demo ids. An area that adds a POST route adds its case here.
NEW_PASSWORD = "Nouveau-Mot-2027!"


def _uploaded_batch(demo: dict, submitted: bool = False) -> dict:
    """A CNSS batch uploaded (and submitted) by gestionnaire 1 through the bulk area's services."""
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services.bulk import approval, importing

    g1 = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
    batch = importing.create_from_upload(g1, demo["accounts"]["ACC-CNSS-001"], "Audit", io.BytesIO(BATCH_FILE), "a.csv")
    db.session.commit()
    if submitted:
        approval.submit_batch(g1, batch.id)
    return {"batch_id": batch.id}


def _batch_being_paid(demo: dict, paused: bool = False) -> dict:
    """A CNSS batch approved by gestionnaire 2, so that it is being paid (paused if asked)."""
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services.bulk import approval, control

    values = _uploaded_batch(demo, submitted=True)
    g2 = db.session.get(User, demo["users"]["gestionnaire2@cnss.bj"])
    approval.approve_batch(g2, values["batch_id"])
    if paused:
        control.pause_batch(g2, values["batch_id"])
    return values


def _list_with_an_entry(demo: dict) -> int:
    return cnss_entry(demo).list_id


def _payment_to_review(demo: dict) -> dict:
    """A fines payment that spent its retry budget (A_VERIFIER), set directly for the test."""
    from backoffice.extensions import db
    from backoffice.models.fines import FinePayment

    payment = db.session.get(FinePayment, BUILDERS["payment_id"](demo))
    payment.status, payment.paused_status = "A_VERIFIER", "RECU"
    db.session.commit()
    return {"payment_id": payment.id}


def _row_to_review(demo: dict) -> dict:
    """A finished CNSS batch whose only row is "À vérifier" (its amount still reserved), set directly."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.batches import Batch, BatchRow, BatchStatus, RowStatus

    batch_id = make_approved_batch(["22997000504"], amount=1000)
    row = db.session.scalar(select(BatchRow).where(BatchRow.batch_id == batch_id))
    row.status, row.status_checks = RowStatus.NEEDS_REVIEW.value, 3
    db.session.get(Batch, batch_id).status = BatchStatus.FAILED.value
    db.session.commit()
    return {"batch_id": batch_id, "row_id": row.id}


def _invited_user(demo: dict) -> int:
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import User

    BUILDERS["token"](demo)
    return db.session.scalar(select(User.id).where(User.email.like("invite-%")))


BATCH_FILE = b"type_id,valeur_id,devise,montant,nom_complet\nPERSONAL_ID,1234567890,XOF,1000,Awa\n"

# endpoint → (who posts, form data or a function of the demo ids, the audit action expected[,
# a function of the demo ids that prepares the object and returns the URL values]).
MUTATION_CASES: dict[str, tuple] = {
    # The password step; "auth.login" is written once the second factor is typed too.
    "auth.login": (None, {"email": "gestionnaire1@cnss.bj", "password": "Demo-2026!"}, "auth.password_accepted"),
    "auth.second_factor": (None, {"code": "000000"}, None),  # no sign-in under way: nothing happens
    "auth.enrol": (None, {"code": "000000"}, None),
    "auth.accept_invitation": (None, {"new": NEW_PASSWORD, "confirm": NEW_PASSWORD}, "user.invitation_accepted"),
    "auth.logout": ("gestionnaire1@cnss.bj", {}, "auth.logout"),
    "auth.change_password": (
        "gestionnaire1@cnss.bj",
        {"current": "Demo-2026!", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        "user.password_changed",
    ),
    "admin.organisation_new": ("admin@demo.bj", {"code": "CNAS", "name": "CNAS Niger"}, "organisation.created"),
    "admin.organisation_edit": ("admin@demo.bj", {"code": "CNSS", "name": "CNSS du Bénin"}, "organisation.updated"),
    "admin.organisation_toggle": ("admin@demo.bj", {}, "organisation.deactivated"),
    "admin.user_new": (
        "admin@demo.bj",
        lambda d: {
            "email": "nouveau@cnss.bj",
            "first_name": "Nouveau",
            "last_name": "Agent",
            "organisation_id": d["orgs"]["CNSS"],
            "role": "GESTIONNAIRE",
        },
        "user.created",
    ),
    "admin.user_toggle": ("admin@demo.bj", {}, "user.deactivated"),
    "admin.user_reset_password": ("admin@demo.bj", {}, "user.password_reset"),
    "admin.organisation_rules": (
        "admin@demo.bj",
        {"currency": "XOF", "dual_above": "1 000 000", "daily_limit": ""},
        "organisation.approval_rule_changed",
    ),
    "admin.user_resend_invitation": (
        "admin@demo.bj",
        {},
        "user.invitation_sent",
        lambda d: {"user_id": _invited_user(d)},
    ),
    "admin.user_reset_second_factor": ("admin@demo.bj", {}, "user.second_factor_reset"),
    "admin.user_role": ("admin@demo.bj", {"role": "SUPERVISEUR"}, "user.role_changed"),
    "admin.account_new": (
        "admin@demo.bj",
        lambda d: {
            "organisation_id": d["orgs"]["CNSS"],
            "account_id": "ACC-CNSS-002",
            "currency": "XOF",
            "party_id_type": "BUSINESS",
            "party_id_value": "CNSS-BJ-2",
        },
        "account.created",
    ),
    "admin.account_topup": ("admin@demo.bj", {"amount": "1 000", "reason": "Test"}, "account.top_up_requested"),
    "admin.top_up_approve": ("admin@demo.bj", {"reason": "Virement reçu"}, "account.topped_up"),
    "admin.top_up_refuse": ("admin@demo.bj", {"reason": "Aucun justificatif"}, "account.top_up_refused"),
    "lists.new": (
        "gestionnaire1@cnss.bj",
        {"name": "Nouvelle", "currency": "XOF", "source": "empty"},
        "beneficiary_list.created",
    ),
    "lists.entry_new": (
        "gestionnaire1@cnss.bj",
        {"party_id_type": "MSISDN", "party_id_value": "22997123456", "default_amount": "1000"},
        "beneficiary_list.entry_added",
    ),
    "lists.entry_edit": (
        "gestionnaire1@cnss.bj",
        {"party_id_type": "MSISDN", "party_id_value": "22997000001", "name": "Autre nom", "active": "y"},
        "beneficiary_list.entry_updated",
    ),
    "lists.entry_toggle": ("gestionnaire1@cnss.bj", {}, "beneficiary_list.entry_deactivated"),
    "lists.new_batch": (
        "gestionnaire1@cnss.bj",
        lambda d: {"label": "Lot", "account_id": d["accounts"]["ACC-CNSS-001"]},
        "beneficiary_list.batch_created",
        lambda d: {"list_id": _list_with_an_entry(d)},
    ),
    "lists.new_batch_changes": (
        "gestionnaire1@cnss.bj",
        lambda d: {"file": (io.BytesIO(b"identifiant;montant\n22997000001;2000\n"), "modifs.csv")},
        "beneficiary_list.amounts_uploaded",
        lambda d: {"list_id": _list_with_an_entry(d)},
    ),
    "providers.new": ("admin@demo.bj", {"fsp_id": "orange-ci", "name": "Orange CI"}, "provider.created"),
    "providers.edit": ("admin@demo.bj", {"name": "Autre nom"}, "provider.updated"),
    "providers.toggle": ("admin@demo.bj", {}, "provider.deactivated"),
    # Fines area.
    "fines.api_client_new": (
        "admin@demo.bj",
        lambda d: {"name": "Application citoyenne", "organisation_id": d["orgs"]["CNSS"], "scopes": "fines:write"},
        "api_client.created",
    ),
    "fines.api_client_revoke": ("admin@demo.bj", {}, "api_client.revoked"),
    "fines.api_approval": ("admin@demo.bj", {"allowed": "y"}, "api_settings.updated"),
    "fines.webhook_endpoints": (
        "admin@demo.bj",
        lambda d: {"url": "https://8.8.8.8/h", "api_client_id": d["webhook_client"], "events": "batch.completed"},
        "webhook.created",
        lambda d: d.update(webhook_client=_demo_batch_client()) or {},
    ),
    "fines.webhook_test": ("admin@demo.bj", {}, "webhook.tested"),
    "fines.webhook_delete": ("admin@demo.bj", {}, "webhook.deleted"),
    "fines.webhook_redeliver": ("admin@demo.bj", {}, "webhook.redelivered"),
    "fines.review_rerun": ("admin@demo.bj", {}, "fines.payment_rerun", lambda d: _payment_to_review(d)),
    "fines.review_close": (
        "admin@demo.bj",
        {"note": "Vérifié auprès de l'opérateur."},
        "fines.payment_closed",
        lambda d: _payment_to_review(d),
    ),
    # Bulk payments area (issue 4).
    "batches.new": (
        "gestionnaire1@cnss.bj",
        lambda d: {
            "account_id": d["accounts"]["ACC-CNSS-001"],
            "label": "Audit",
            "file": (io.BytesIO(BATCH_FILE), "a.csv"),
        },
        "batch.imported",
    ),
    "batches.submit": ("gestionnaire1@cnss.bj", {}, "batch.submitted", lambda d: _uploaded_batch(d)),
    "batches.cancel": ("gestionnaire1@cnss.bj", {}, "batch.cancelled", lambda d: _uploaded_batch(d)),
    "batches.pause": ("gestionnaire1@cnss.bj", {}, "batch.paused", lambda d: _batch_being_paid(d)),
    "batches.resume": ("gestionnaire1@cnss.bj", {}, "batch.resumed", lambda d: _batch_being_paid(d, paused=True)),
    "batches.cancel_processing": (
        "gestionnaire1@cnss.bj",
        {"reason": "Fichier de novembre envoyé par erreur."},
        "batch.processing_cancelled",
        lambda d: _batch_being_paid(d),
    ),
    "batches.approve": ("gestionnaire2@cnss.bj", {}, "batch.approved", lambda d: _uploaded_batch(d, True)),
    "batches.reject": (
        "gestionnaire2@cnss.bj",
        {"reason": "Montants de septembre."},
        "batch.rejected",
        lambda d: _uploaded_batch(d, True),
    ),
    # Rows "À vérifier": a person rechecks with the switch (unreachable here) or decides.
    "batches.recheck_row": ("gestionnaire1@cnss.bj", {}, "batch.row_rechecked", lambda d: _row_to_review(d)),
    "batches.resolve_row": (
        "gestionnaire2@cnss.bj",
        {"outcome": "FAILED", "note": "L'opérateur confirme : non reçu."},
        "batch.row_resolved",
        lambda d: _row_to_review(d),
    ),
    # Issue 11: verification, draft corrections, re-payment.
    "batches.verify": ("gestionnaire1@cnss.bj", {}, "batch.verification_started", lambda d: _uploaded_batch(d)),
    "batches.exclude_row": (
        "gestionnaire1@cnss.bj",
        {"reason": "Décédé"},
        "batch.row_excluded",
        lambda d: _draft_row(d),
    ),
    "batches.allow_duplicate": (
        "gestionnaire1@cnss.bj",
        {"reason": "Deux pensions"},
        "batch.duplicate_allowed",
        lambda d: _draft_row(d, BATCH_FILE + b"PERSONAL_ID,1234567890,XOF,500,Awa\n", line=3),
    ),
    "batches.edit_row": (
        "gestionnaire1@cnss.bj",
        {"id_value": "1234567899", "amount": "1200"},
        "batch.row_edited",
        lambda d: _draft_row(d),
    ),
    "batches.repay": ("gestionnaire1@cnss.bj", {}, "batch.repay_created", lambda d: _failed_batch(d)),
}


def _demo_batch_client() -> int:
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.fines import ApiClient
    from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY, hash_key

    return db.session.scalar(select(ApiClient.id).where(ApiClient.key_hash == hash_key(DEMO_BATCH_CLIENT_KEY)))


def _draft_row(demo: dict, content: bytes = BATCH_FILE, line: int = 2) -> dict:
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.models.batches import BatchRow
    from backoffice.services.bulk import importing

    g1 = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
    batch = importing.create_from_upload(g1, demo["accounts"]["ACC-CNSS-001"], "Audit", io.BytesIO(content), "a.csv")
    db.session.commit()
    row_id = db.session.scalar(select(BatchRow.id).where(BatchRow.batch_id == batch.id, BatchRow.line_number == line))
    return {"batch_id": batch.id, "row_id": row_id}


def _failed_batch(demo: dict) -> dict:
    from sqlalchemy import update

    from backoffice.extensions import db
    from backoffice.models.batches import Batch, BatchRow

    batch_id = make_approved_batch(["2290197000001"], amount=1000)
    db.session.execute(update(BatchRow).where(BatchRow.batch_id == batch_id).values(status="FAILED", settled=True))
    db.session.execute(update(Batch).where(Batch.id == batch_id).values(status="FAILED", reserved_amount=0))
    db.session.commit()
    return {"batch_id": batch_id}


def _mutating_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            if app.view_functions[rule.endpoint].access_rule == "api":
                continue  # API routes authenticate clients, not users: their area tests them
            yield rule, method


def test_every_mutating_route_has_a_case(app):
    missing = sorted({rule.endpoint for rule, _ in _mutating_routes(app) if rule.endpoint not in MUTATION_CASES})
    assert not missing, "\n".join(
        f"add a case for {endpoint} in MUTATION_CASES (tests/test_audit_log.py)" for endpoint in missing
    )


def test_every_mutating_route_writes_an_audit_event(app, client):
    from flask import url_for
    from sqlalchemy import func, select

    from backoffice.extensions import db
    from backoffice.models import AuditEvent
    from backoffice.services.demo import seed_demo

    failures = []
    for rule, method in _mutating_routes(app):
        if rule.endpoint not in MUTATION_CASES:
            failures.append(f"add a case for {rule.endpoint} in MUTATION_CASES (tests/test_audit_log.py)")
            continue
        actor, data, action, *prepare = MUTATION_CASES[rule.endpoint]
        _empty_tables(app)
        with app.app_context():
            seed_demo()
            db.session.commit()
            demo = _demo_ids()
            if prepare:
                values = prepare[0](demo)
            else:
                values = {arg: BUILDERS[arg](demo) for arg in rule.arguments}
            db.session.commit()
        with app.test_request_context():
            url = url_for(rule.endpoint, **values)
        client.delete_cookie("session")
        with client.session_transaction() as session:
            session.clear()
        if actor is not None:
            assert login(client, actor).status_code == 302
        with app.app_context():
            before = db.session.scalar(select(func.max(AuditEvent.id))) or 0
        form = data(demo) if callable(data) else data
        response = client.open(url, method=method, data=form)
        with app.app_context():
            actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.id > before)).all()
        if response.status_code >= 400:
            failures.append(f"{method} {url}: status {response.status_code}")
        elif action is None:
            if actions:
                failures.append(f"{method} {url}: expected no change, got {actions}")
        elif action not in actions:
            failures.append(f"{method} {url}: expected audit event {action!r}, got {actions}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", [AUDIT, f"{AUDIT}/export.csv"])
def test_anonymous_is_sent_to_sign_in(client, demo, path):
    response = client.get(path)
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]
