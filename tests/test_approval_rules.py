"""Approval rules per organisation: two distinct approvers above a total, a most-per-day total."""

from __future__ import annotations

import html as html_lib
import io
import itertools
import threading

import pytest
from sqlalchemy import func, select

from tests.conftest import DEMO_PASSWORD, login

UPLOADER = "gestionnaire1@cnss.bj"
FIRST = "gestionnaire2@cnss.bj"
SECOND = "gestionnaire3@cnss.bj"


def _html(response) -> str:
    return html_lib.unescape(response.get_data(as_text=True))


@pytest.fixture
def third_gestionnaire(app, demo):
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services import twofactor
    from backoffice.services.users import hash_password

    with app.app_context():
        user = User(
            email=SECOND,
            first_name="Fifamè",
            last_name="Zinsou",
            organisation_id=demo["orgs"]["CNSS"],
            password_hash=hash_password(DEMO_PASSWORD),
            must_change_password=False,
        )
        twofactor.set_demo_factor(user)
        db.session.add(user)
        db.session.commit()
        return user.id


def _set_rule(app, demo, dual_above=None, daily_limit=None) -> None:
    from backoffice.extensions import db
    from backoffice.models import Organisation
    from backoffice.services import approval_rules
    from tests.factories import user

    with app.app_context():
        org = db.session.get(Organisation, demo["orgs"]["CNSS"])
        approval_rules.set_rule(user("admin@demo.bj"), org, "XOF", dual_above, daily_limit)
        db.session.commit()


_PEOPLE = itertools.count(1)


def _pending_batch(app, demo, amount: int, label: str = "Pensions") -> int:
    from backoffice.extensions import db
    from backoffice.services.bulk import approval
    from backoffice.services.bulk.importing import create_from_upload
    from tests.factories import user

    # One beneficiary per batch: these tests are about approval rules, not the double-payment guard.
    person = 1_000_000_000 + next(_PEOPLE)
    content = f"type_id,valeur_id,devise,montant,nom_complet\nPERSONAL_ID,{person},XOF,{amount},Awa\n".encode()
    with app.app_context():
        batch = create_from_upload(
            user(UPLOADER), demo["accounts"]["ACC-CNSS-001"], label, io.BytesIO(content), "lot.csv"
        )
        approval.submit_batch(user(UPLOADER), batch.id)
        db.session.commit()
        return batch.id


def _state(app, batch_id: int) -> tuple[str, int]:
    from backoffice.extensions import db
    from backoffice.models import Account
    from backoffice.models.batches import Batch

    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        return batch.status, db.session.get(Account, batch.account_id).reserved


def test_an_admin_sets_the_rule_on_its_page(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models.approvals import ApprovalRule

    login(client, "admin@demo.bj")
    url = f"/admin/organisations/{demo['orgs']['CNSS']}/regles"
    assert "Aucune règle" in _html(client.get(url))
    bad = client.post(url, data={"currency": "XOF", "dual_above": "beaucoup", "daily_limit": ""})
    assert "Montant illisible : « beaucoup »." in _html(bad)
    ok = client.post(url, data={"currency": "XOF", "dual_above": "1 000 000", "daily_limit": "50 000 000"})
    assert ok.status_code == 302
    page = _html(client.get(url))
    assert "1\u202f000\u202f000\u202fF CFA" in page and "50\u202f000\u202f000\u202fF CFA" in page
    with app.app_context():
        rule = db.session.scalar(select(ApprovalRule))
        assert (rule.currency, rule.dual_above, rule.daily_limit) == ("XOF", 1_000_000, 50_000_000)


def test_above_the_threshold_two_distinct_approvers_are_needed(app, client, demo, third_gestionnaire):
    _set_rule(app, demo, dual_above=100_000)
    batch_id = _pending_batch(app, demo, 150_000)
    login(client, FIRST)
    page = _html(client.get(f"/batches/{batch_id}"))
    assert "deux approbateurs distincts" in page
    first = client.post(f"/batches/{batch_id}/approve", follow_redirects=True)
    assert "un second approbateur doit encore approuver ce lot" in _html(first)
    assert _state(app, batch_id) == ("PENDING_APPROVAL", 0)  # nothing reserved before the last approval
    page = _html(client.get(f"/batches/{batch_id}"))
    assert "1 sur 2 : Aïcha Dossou" in page
    with app.app_context():  # the approval's time in the reader's zone, as every other time
        from backoffice.extensions import db
        from backoffice.models.approvals import BatchApproval
        from backoffice.services import locale

        approved_at = db.session.scalar(select(BatchApproval.created_at).where(BatchApproval.batch_id == batch_id))
        assert f"Aïcha Dossou ({locale.format_datetime(approved_at, 'Africa/Porto-Novo')})" in page
    assert f"/batches/{batch_id}/approve" not in page  # no second yes from the same person
    again = client.post(f"/batches/{batch_id}/approve", follow_redirects=True)
    assert "Vous avez déjà approuvé ce lot" in _html(again)
    assert _state(app, batch_id) == ("PENDING_APPROVAL", 0)

    other = app.test_client()
    login(other, SECOND)
    other.post(f"/batches/{batch_id}/approve")
    status, reserved = _state(app, batch_id)
    assert status in ("APPROVED", "PROCESSING") and reserved == 150_000


def test_below_the_threshold_one_approver_is_enough(app, client, demo):
    _set_rule(app, demo, dual_above=100_000)
    batch_id = _pending_batch(app, demo, 100_000)
    login(client, FIRST)
    assert "un approbateur, autre que" in _html(client.get(f"/batches/{batch_id}"))
    client.post(f"/batches/{batch_id}/approve")
    assert _state(app, batch_id)[0] in ("APPROVED", "PROCESSING")


def test_the_daily_limit_refuses_the_approval_that_would_pass_it(app, client, demo):
    _set_rule(app, demo, daily_limit=250_000)
    first = _pending_batch(app, demo, 200_000, "Lot 1")
    second = _pending_batch(app, demo, 60_000, "Lot 2")
    login(client, FIRST)
    client.post(f"/batches/{first}/approve")
    refused = _html(client.post(f"/batches/{second}/approve", follow_redirects=True))
    assert "Plafond journalier dépassé" in refused and "200\u202f000\u202fF CFA déjà approuvés" in refused
    assert _state(app, second) == ("PENDING_APPROVAL", 200_000)


def _approve_in_threads(app, work: list[tuple[str, int]]) -> list[BaseException | None]:
    from backoffice.extensions import db
    from backoffice.services.bulk import approval
    from tests.factories import user

    barrier = threading.Barrier(len(work))
    outcomes: list[BaseException | None] = [None] * len(work)

    def run(i: int) -> None:
        email, batch_id = work[i]
        with app.app_context():
            try:
                actor = user(email)
                barrier.wait(timeout=30)
                approval.approve_batch(actor, batch_id)
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                db.session.rollback()
                outcomes[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.mark.postgres_only
def test_two_approvers_at_once_reserve_exactly_once(app, demo, third_gestionnaire):
    from backoffice.extensions import db
    from backoffice.models import LedgerEntry
    from backoffice.models.approvals import BatchApproval

    _set_rule(app, demo, dual_above=100_000)
    for _ in range(5):
        batch_id = _pending_batch(app, demo, 150_000)
        outcomes = _approve_in_threads(app, [(FIRST, batch_id), (SECOND, batch_id)])
        assert outcomes == [None, None]
        with app.app_context():
            approvals = db.session.scalar(
                select(func.count()).select_from(BatchApproval).where(BatchApproval.batch_id == batch_id)
            )
            reserves = db.session.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "RESERVE")
            )
        assert approvals == 2
        assert _state(app, batch_id)[0] in ("APPROVED", "PROCESSING")
    assert reserves == 5


@pytest.mark.postgres_only
def test_the_daily_limit_holds_under_concurrent_approvals(app, demo):
    _set_rule(app, demo, daily_limit=250_000)
    batches = [_pending_batch(app, demo, 200_000, f"Lot {n}") for n in range(4)]
    outcomes = _approve_in_threads(app, [(FIRST, b) for b in batches])
    assert sum(o is None for o in outcomes) == 1
    assert all("Plafond journalier" in str(o) for o in outcomes if o is not None)
    approved = [b for b in batches if _state(app, b)[0] != "PENDING_APPROVAL"]
    assert len(approved) == 1 and _state(app, batches[0])[1] == 200_000
