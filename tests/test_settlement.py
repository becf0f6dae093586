"""The settlement rule as a table: a row's state and the switch's reply → what to do.

`decide` is pure: no database, no simulator, no clock.
"""

from __future__ import annotations

import pytest

from backoffice.clients.mojaloop import StatusResult, TransferState
from backoffice.models.batches import RowStatus
from backoffice.services.bulk.settlement import Action, Decision, SettlementSettings, decide

SETTINGS = SettlementSettings(
    check_budget=5, resend_grace_seconds=30, max_attempts=3, backoff_seconds=2, backoff_max_seconds=10
)
UNKNOWN, REVIEW = RowStatus.UNKNOWN, RowStatus.NEEDS_REVIEW
COMMITTED, ABORTED, PENDING, NOT_FOUND, UNREACHABLE = (
    TransferState.COMMITTED,
    TransferState.ABORTED,
    TransferState.PENDING,
    TransferState.NOT_FOUND,
    TransferState.UNREACHABLE,
)


def reply(state: TransferState, code: str | None = None, description: str | None = None) -> StatusResult:
    return StatusResult(state, "tr-1", error_code=code, error_description=description)


@pytest.mark.parametrize(
    ("row", "answer", "attempts", "checks", "age", "expected"),
    [
        # A final answer settles the row, whatever its counters or state.
        (UNKNOWN, reply(COMMITTED), 1, 1, 0.5, Decision(Action.COMPLETE)),
        (UNKNOWN, reply(COMMITTED), 3, 99, None, Decision(Action.COMPLETE)),
        (REVIEW, reply(COMMITTED), 1, 6, None, Decision(Action.COMPLETE)),
        (
            UNKNOWN,
            reply(ABORTED, "5104", "Payee FSP rejected"),
            1,
            1,
            5.0,
            Decision(Action.FAIL, error_code="5104", reason="Payee FSP rejected"),
        ),
        (
            UNKNOWN,
            reply(ABORTED),
            1,
            1,
            5.0,
            Decision(Action.FAIL, error_code="ABORTED", reason="Transfert annulé par le switch (ABORTED)."),
        ),
        (
            REVIEW,
            reply(ABORTED),
            1,
            6,
            None,
            Decision(Action.FAIL, error_code="ABORTED", reason="Transfert annulé par le switch (ABORTED)."),
        ),
        # Not final yet: check again, later each time, up to the cap.
        (UNKNOWN, reply(PENDING), 1, 1, 1.0, Decision(Action.CHECK_LATER, after=2)),
        (UNKNOWN, reply(PENDING), 1, 2, 1.0, Decision(Action.CHECK_LATER, after=4)),
        (UNKNOWN, reply(PENDING), 1, 4, 1.0, Decision(Action.CHECK_LATER, after=10)),
        (UNKNOWN, reply(UNREACHABLE), 1, 3, 100.0, Decision(Action.CHECK_LATER, after=8)),
        # "Not found" soon after the send: not trusted before the grace has passed.
        (UNKNOWN, reply(NOT_FOUND), 1, 1, 5.0, Decision(Action.CHECK_LATER, after=25)),
        (UNKNOWN, reply(NOT_FOUND), 1, 4, 29.0, Decision(Action.CHECK_LATER, after=10)),
        # "Not found" without a known send time: like any other unknown answer.
        (UNKNOWN, reply(NOT_FOUND), 1, 1, None, Decision(Action.CHECK_LATER, after=2)),
        # "Not found" after the grace: resend with the same transferId, while attempts last.
        (UNKNOWN, reply(NOT_FOUND), 1, 1, 30.0, Decision(Action.RESEND)),
        (UNKNOWN, reply(NOT_FOUND), 2, 5, 31.0, Decision(Action.RESEND)),
        (
            UNKNOWN,
            reply(NOT_FOUND),
            3,
            2,
            31.0,
            Decision(Action.REVIEW, reason="Introuvable après plusieurs envois : à vérifier."),
        ),
        # The check budget spent: a person decides.
        (
            UNKNOWN,
            reply(PENDING),
            1,
            5,
            1.0,
            Decision(Action.REVIEW, reason="Issue toujours inconnue après 5 vérifications : à vérifier."),
        ),
        (
            UNKNOWN,
            reply(NOT_FOUND),
            1,
            5,
            5.0,
            Decision(Action.REVIEW, reason="Issue toujours inconnue après 5 vérifications : à vérifier."),
        ),
        # A row a person is to decide is never resent nor rescheduled.
        (REVIEW, reply(PENDING), 1, 6, None, Decision(Action.REVIEW)),
        (REVIEW, reply(NOT_FOUND), 1, 6, 3600.0, Decision(Action.REVIEW)),
        (REVIEW, reply(UNREACHABLE), 1, 6, None, Decision(Action.REVIEW)),
    ],
)
def test_decide(row, answer, attempts, checks, age, expected):
    assert decide(row, answer, attempts, checks, age, SETTINGS) == expected


@pytest.mark.parametrize("row", [RowStatus.PENDING, RowStatus.SENDING, RowStatus.COMPLETED, RowStatus.FAILED])
def test_a_row_without_an_unknown_outcome_has_nothing_to_settle(row):
    with pytest.raises(ValueError):
        decide(row, reply(PENDING), 1, 1, 1.0, SETTINGS)


def test_settings_come_from_the_configuration():
    cfg = {
        "BATCH_STATUS_CHECK_BUDGET": "7",
        "BATCH_RESEND_GRACE_SECONDS": "12.5",
        "BATCH_MAX_ATTEMPTS": 2,
        "BATCH_STATUS_BACKOFF_SECONDS": 1,
        "BATCH_STATUS_BACKOFF_MAX_SECONDS": 60,
    }
    settings = SettlementSettings.from_config(cfg)
    assert settings == SettlementSettings(7, 12.5, 2, 1.0, 60.0)
    assert [settings.backoff(n) for n in (1, 2, 3, 7, 20)] == [1, 2, 4, 60, 60]
