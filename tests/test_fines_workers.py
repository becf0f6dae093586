"""End to end with real `flask worker` processes and the simulators at high fault rates (slow)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models.fines import FinePayment
from backoffice.simulators.fines import ALREADY_PAID, LOW_BALANCE, RACE
from tests.factories import body
from tests.support import post, wait_until, worker_env

FINAL = {"PAYE", "REJETE", "ECHEC", "REMBOURSE", "CLOTURE"}


def _statuses(app) -> dict[str, tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(select(FinePayment.id, FinePayment.reference, FinePayment.status)).all()
        db.session.remove()
    return {r.id: (r.reference, r.status) for r in rows}


def _expected(i: int) -> str:
    return {ALREADY_PAID: "REJETE", RACE: "REMBOURSE", LOW_BALANCE: "ECHEC"}.get(i % 10, "PAYE")


@pytest.mark.slow
@pytest.mark.postgres_only
def test_200_payments_with_high_faults_settle_exactly_once(app, client, demo, partners, start_process):
    faults = {
        "latency_min": 0.005,
        "latency_max": 0.05,
        "fail_rate": 0.30,  # 30 % of calls answer 504 …
        "late_share": 0.5,  # … half of those writes are applied later (up to late_max) …
        "lost_share": 0.2,  # … some never, the rest at once
        "late_max": 3.0,  # longer than the backoff: prompt repeats meet late originals
    }
    for partner in partners.values():
        partner.settings(**faults)
    app.config["FINES_BUDGET_SECONDS"] = 600  # set on each payment when it is received
    count = 200
    ids = {}
    for i in range(1, count + 1):
        response = post(client, body(i))
        assert response.status_code == 202
        ids[response.get_json()["id"]] = i
    # Waits longer than 0.1 s go through RQ's scheduler, so a worker never sleeps on one payment.
    # Both partners deduplicate (prompt repeats); the grace period is long, so it is never waited out.
    env = worker_env(partners, FINES_REWRITE_GRACE_SECONDS=600, FINES_MAX_CHECKS=200, FINES_INLINE_WAIT_SECONDS=0.1)
    for n in range(4):
        start_process("worker", "--name", f"amendes-{n}", env=env)

    def all_final():
        statuses = _statuses(app)
        return all(status in FINAL | {"A_VERIFIER"} for _, status in statuses.values())

    started = time.monotonic()
    wait_until(all_final, timeout=300, interval=1.0, message="every payment in a final state")
    print(f"200 payments settled in {time.monotonic() - started:.1f} s")
    time.sleep(faults["late_max"] + 0.5)  # let every late write land before counting
    statuses = _statuses(app)
    with app.app_context():
        review = db.session.execute(
            select(FinePayment.id, FinePayment.reason).where(FinePayment.status == "A_VERIFIER")
        ).all()
    assert review == []
    for payment_id, (_, status) in statuses.items():
        assert status == _expected(ids[payment_id]), (payment_id, ids[payment_id], status)

    momo = partners["momo"].stats()
    marks = partners["fines"].stats()["marks"]
    for payment_id, (_, status) in statuses.items():
        debit = momo["debits"].get(f"{payment_id}-debit")
        citizen = body(ids[payment_id])
        change = momo["balance_changes"].get(citizen["telephone"], 0)
        if status == "REJETE":
            assert debit is None and momo["posts"].get(f"{payment_id}-debit", 0) == 0
            assert change == 0
        elif status == "ECHEC":
            assert debit["statut"] == "ECHOUE" and debit["applied"] == 0
        else:
            assert debit["statut"] == "REUSSI" and debit["applied"] == 1, (payment_id, debit)
        if status == "PAYE":
            assert change == -citizen["montant"]
            for numero in citizen["amendes"]:
                assert marks[f"{payment_id}-{numero}"]["applied"] == 1
        if status == "REMBOURSE":
            refund = momo["refunds"][f"{payment_id}-refund"]
            assert refund["statut"] == "REUSSI" and refund["applied"] == 1
            assert change == 0
    # Writes were repeated with the same id (prompt mode), never applied twice (checked above).
    assert any(d["posts"] > 1 for d in momo["debits"].values())
    # Debits and refunds the back-office never asked for: none.
    assert all(key.rsplit("-", 1)[0] in statuses for key in momo["debits"])


@pytest.mark.slow
def test_worker_killed_between_debit_and_fines_update_resumes_without_a_second_debit(
    app, client, demo, partners, start_process
):
    # The registry answers slowly, so the worker is inside "mark the fines" when it dies.
    partners["fines"].settings(latency_min=1.5, latency_max=1.5)
    payment_id = post(client, body(1)).get_json()["id"]
    env = worker_env(partners, FINES_HTTP_TIMEOUT_SECONDS=10, FINES_LEASE_SECONDS=4)
    first = start_process("worker", "--name", "amendes-killed", env=env)

    def debited():
        with app.app_context():
            status = db.session.scalar(select(FinePayment.status).where(FinePayment.id == payment_id))
            db.session.remove()
        return status == "DEBITE"

    wait_until(debited, timeout=60, interval=0.05, message="payment DEBITE")
    # SIGKILL the worker and the scheduler process it forked (a machine-level crash):
    # no cleanup, the lease stays until it expires.
    children = Path(f"/proc/{first.pid}/task/{first.pid}/children").read_text().split()
    first.kill()
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
    first.wait()
    assert partners["momo"].stats()["debits"][f"{payment_id}-debit"]["posts"] == 1

    partners["fines"].settings(latency_min=0.002, latency_max=0.01)
    start_process("worker", "--name", "amendes-second", env=env)

    def paid():
        with app.app_context():
            status = db.session.scalar(select(FinePayment.status).where(FinePayment.id == payment_id))
            db.session.remove()
        return status == "PAYE"

    wait_until(paid, timeout=60, message="payment PAYE after the restart")
    debit = partners["momo"].stats()["debits"][f"{payment_id}-debit"]
    assert debit["posts"] == 1 and debit["applied"] == 1
    marks = partners["fines"].stats()["marks"]
    for numero in body(1)["amendes"]:
        assert marks[f"{payment_id}-{numero}"]["applied"] == 1
