"""Beneficiary list → batch → four-eyes approval → payment by a real worker, end to end."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.support import Sim

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]


def test_monthly_run_from_a_list(app, client, demo, simulator, start_process):
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.models.batches import Batch, BatchRow
    from backoffice.services import beneficiaries
    from backoffice.services.bulk import approval
    from backoffice.services.dashboard.figures import dashboard_figures
    from backoffice.services.mail import outbox_messages
    from backoffice.services.periods import Period
    from tests.conftest import login

    Sim(simulator.url).reset()
    with app.app_context():
        g1 = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
        lst = beneficiaries.create_list(g1, "Pensions de décembre", "XOF")
        entries = [
            beneficiaries.add_entry(g1, lst, party_id_type="MSISDN", party_id_value=v, name=n, amount_text=a)
            for v, n, a in [
                ("22997000001", "Awa", "20 000"),
                ("22997000002", "Koffi", "15 000"),
                ("22997000404", "Inconnu", "5 000"),  # the simulator answers 3204
                ("22997000003", "Parti", "9 000"),
            ]
        ]
        beneficiaries.set_entry_active(g1, lst, entries[3], False)
        db.session.commit()
        list_id, first_entry = lst.id, entries[0].id

    # The page: amounts editable before creating the batch.
    assert login(client, "gestionnaire1@cnss.bj").status_code == 302
    response = client.post(
        f"/tableau-de-bord/listes/{list_id}/nouveau-lot",
        data={
            "label": "Pensions de décembre",
            "account_id": demo["accounts"]["ACC-CNSS-001"],
            f"amount-{first_entry}": "25 000",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    with app.app_context():
        batch = db.session.query(Batch).one()
        batch_id = batch.id
        assert (batch.status, batch.valid_count, batch.total_amount) == ("DRAFT", 3, 45_000)
        g2 = db.session.get(User, demo["users"]["gestionnaire2@cnss.bj"])
        g1 = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
        approval.submit_batch(g1, batch_id)
        env = {"MOJALOOP_SDK_URL": simulator.url, "BATCH_STATUS_BACKOFF_SECONDS": "0.2"}
        start_process("worker", env=env)
        approval.approve_batch(g2, batch_id)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            db.session.expire_all()
            batch = db.session.get(Batch, batch_id)
            db.session.commit()
            if batch.is_final:
                break
            time.sleep(0.3)
        assert batch.status == "PARTIALLY_COMPLETED"
        rows = {r.party_id_value: r for r in db.session.query(BatchRow).filter_by(batch_id=batch_id)}
        assert rows["22997000001"].amount == 25_000 and rows["22997000001"].status == "COMPLETED"
        assert rows["22997000404"].error_code == "3204"
        today = datetime.utcnow().date()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(outbox_messages()) < 3:  # submitted, approved, finished
            time.sleep(0.3)
        subjects = [(m["To"], m["Subject"]) for m in outbox_messages()]
        figures = dashboard_figures(demo["orgs"]["CNSS"], Period(today.replace(day=1), today))
    assert any(to == "gestionnaire2@cnss.bj" and s.endswith("à approuver") for to, s in subjects)
    assert any(to == "gestionnaire1@cnss.bj" and s.endswith("approuvé") for to, s in subjects)
    assert any(to == "gestionnaire1@cnss.bj" and "terminé" in s for to, s in subjects)
    assert (figures.completed, figures.failed, figures.amounts["XOF"], figures.beneficiaries) == (2, 1, 40_000, 2)
    assert [(r.code, r.count) for r in figures.failures] == [("3204", 1)]
