"""The partner simulators keep the contract exactly: a repeated id is never applied twice.

In particular a write answered 504 and applied late, after the caller has already repeated
it with the same id, must not move money (or mark a fine) a second time; and a repeat of an
id the partner already holds answers 409 (the operator) or 200 naming that id (the
registry), the earlier outcome standing. The simulators run in-process with no latency.
"""

from __future__ import annotations

import time

import pytest

from backoffice.simulators import fines as fines_sim
from backoffice.simulators import momo as momo_sim
from backoffice.simulators.fines import Faults, citizens

LATE = 0.3  # every write behind a 504 is applied within this many seconds


def _faults() -> Faults:
    return Faults(latency_min=0.0, latency_max=0.0, fail_rate=1.0, late_share=1.0, lost_share=0.0, late_max=LATE)


def _calm(app) -> None:
    app.extensions["partner"].faults.update({"fail_rate": 0.0})


def _late_again(app) -> None:
    app.extensions["partner"].faults.update({"fail_rate": 1.0})


def _debit(client, debit_id: str, citizen: int = 1):
    phone = citizens(citizen)[citizen - 1]["telephone"]
    return client.post("/debits", json={"id": debit_id, "telephone": phone, "montant": 1000, "devise": "XOF"})


def test_momo_debit_applied_late_after_a_repeat_is_never_applied_twice():
    app = momo_sim.create_app(_faults(), seed=3, citizen_count=5)
    client = app.test_client()
    seen = {"repeat_applied": 0, "repeat_409": 0}
    for n in range(12):
        debit_id = f"P{n}-debit"
        assert _debit(client, debit_id).status_code == 504  # applied later
        _calm(app)
        status = client.get(f"/debits/{debit_id}")
        repeat = _debit(client, debit_id)  # the caller repeats at once, same id
        if status.status_code == 404:
            # Not recorded yet: the repeat is applied now and the late original must not be.
            assert repeat.status_code == 200 and repeat.get_json()["statut"] == "REUSSI"
            seen["repeat_applied"] += 1
        else:
            # Recorded as EN_COURS: the repeat answers 409, the original's outcome stands.
            assert status.get_json()["statut"] == "EN_COURS"
            assert repeat.status_code == 409 and repeat.get_json()["erreur"] == "ID_DUPLIQUE"
            seen["repeat_409"] += 1
        _late_again(app)
    time.sleep(LATE + 0.3)  # every late original has landed (or been refused)
    stats = client.get("/_admin/stats").get_json()
    for n in range(12):
        record = stats["debits"][f"P{n}-debit"]
        assert record["applied"] == 1 and record["statut"] == "REUSSI", record
        assert record["posts"] == 2
    assert stats["balance_changes"][citizens(1)[0]["telephone"]] == -12 * 1000
    assert seen["repeat_applied"] and seen["repeat_409"]  # both paths ran


def test_momo_refund_applied_late_after_a_repeat_is_never_applied_twice():
    app = momo_sim.create_app(Faults(latency_min=0.0, latency_max=0.0, fail_rate=0.0), seed=3, citizen_count=5)
    client = app.test_client()
    assert _debit(client, "R-debit").get_json()["statut"] == "REUSSI"
    app.extensions["partner"].faults.update(_faults().__dict__)
    refund = {"id": "R-refund", "debit_id": "R-debit", "montant": 1000}
    assert client.post("/remboursements", json=refund).status_code == 504
    _calm(app)
    assert client.get("/remboursements/R-refund").status_code == 404
    again = client.post("/remboursements", json=refund)
    assert again.status_code == 200 and again.get_json()["statut"] == "REUSSI"
    assert client.post("/remboursements", json=refund).status_code == 409  # a third time: 409
    time.sleep(LATE + 0.3)
    stats = client.get("/_admin/stats").get_json()
    assert stats["refunds"]["R-refund"]["applied"] == 1
    assert stats["balance_changes"].get(citizens(1)[0]["telephone"], 0) == 0  # debited once, refunded once


@pytest.mark.parametrize("late_first", [True, False])
def test_registry_mark_applied_late_after_a_repeat_is_never_applied_twice(late_first):
    app = fines_sim.create_app(_faults(), seed=3, citizen_count=5)
    client = app.test_client()
    fine = citizens(1)[0]["amendes"][0]
    mark = {"paiement_id": "M-" + fine["numero"], "montant": fine["montant"]}
    assert client.post(f"/amendes/{fine['numero']}/paiements", json=mark).status_code == 504
    _calm(app)
    if not late_first:
        assert client.get(f"/amendes/{fine['numero']}").get_json()["statut"] == "IMPAYEE"
    else:
        time.sleep(LATE + 0.3)  # the original landed before the repeat
    again = client.post(f"/amendes/{fine['numero']}/paiements", json=mark)
    assert again.status_code == 200 and again.get_json()["paiement_id"] == mark["paiement_id"]
    other = client.post(f"/amendes/{fine['numero']}/paiements", json={**mark, "paiement_id": "OTHER"})
    assert other.status_code == 409 and other.get_json() == {"erreur": "DEJA_PAYEE", "paiement_id": mark["paiement_id"]}
    time.sleep(LATE + 0.3)
    stats = client.get("/_admin/stats").get_json()
    assert stats["marks"][mark["paiement_id"]]["applied"] == 1
    assert stats["fines"][fine["numero"]] == {"statut": "PAYEE", "paiement_id": mark["paiement_id"]}
