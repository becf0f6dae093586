"""The ledger: balance and reservation always equal the sum of their entries."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import func, select

from backoffice.services import ServiceError


@pytest.fixture
def account_id(app, demo):
    return demo["accounts"]["ACC-CNSS-001"]


def _state(account_id: int) -> tuple[int, int, int]:
    """(balance, reserved, number of entries) as stored."""
    from backoffice.extensions import db
    from backoffice.models import Account, LedgerEntry

    db.session.expire_all()
    account = db.session.get(Account, account_id)
    count = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.account_id == account_id))
    return account.balance, account.reserved, count


def _assert_consistent(account_id: int) -> None:
    from backoffice.services.ledger import ledger_totals

    balance, reserved, _ = _state(account_id)
    assert ledger_totals(account_id) == (balance, reserved)
    assert reserved >= 0


def test_random_sequences_keep_balance_equal_to_entries(app, account_id):
    from backoffice.extensions import db
    from backoffice.services import ledger

    rng = random.Random(20260425)
    operations = ["top_up", "credit", "reserve", "release", "debit"]
    refused = 0
    with app.app_context():
        _assert_consistent(account_id)
        for step in range(400):
            op = rng.choice(operations)
            balance, reserved, entries = _state(account_id)
            available = balance - reserved
            # Mostly sensible amounts, sometimes more than allowed, sometimes nonsense.
            pick = rng.random()
            if pick < 0.05:
                amount = rng.choice([0, -5, -1_000])
            elif op == "reserve":
                amount = rng.randint(1, max(1, available + available // 4 + 10))
            elif op == "release":
                amount = rng.randint(1, reserved + 10) if reserved else rng.randint(1, 10)
            elif op == "debit":
                amount = rng.randint(1, max(1, min(balance, 5_000_000)))
            else:
                amount = rng.randint(1, 5_000_000)
            try:
                if op == "top_up":
                    ledger.top_up(account_id, amount, f"essai {step}", None)
                else:
                    getattr(ledger, op)(account_id, amount, f"ref-{step}")
            except ServiceError as exc:
                refused += 1
                assert str(exc), "refusals carry a French message"
                # A refused movement leaves the account and the ledger untouched.
                assert _state(account_id) == (balance, reserved, entries)
            else:
                after = _state(account_id)
                assert after[2] == entries + 1
                expected = {
                    "top_up": (balance + amount, reserved),
                    "credit": (balance + amount, reserved),
                    "debit": (balance - amount, reserved),
                    "reserve": (balance, reserved + amount),
                    "release": (balance, reserved - amount),
                }[op]
                assert after[:2] == expected, (op, amount)
            if step % 7 == 0:
                db.session.commit()
            _assert_consistent(account_id)
        db.session.commit()
        _assert_consistent(account_id)
    assert refused > 20  # the sequence did exercise refusals


def test_entries_record_running_totals(app, account_id):
    from backoffice.extensions import db
    from backoffice.models import LedgerEntry
    from backoffice.services import ledger

    with app.app_context():
        ledger.reserve(account_id, 1_000, "lot-1")
        ledger.debit(account_id, 600, "lot-1")
        ledger.release(account_id, 400, "lot-1")
        ledger.release(account_id, 600, "lot-1")
        db.session.commit()
        entries = db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.id)
        ).all()
        assert [e.kind for e in entries] == ["TOPUP", "RESERVE", "DEBIT", "RELEASE", "RELEASE"]
        assert entries[-1].balance_after == 500_000_000 - 600
        assert entries[-1].reserved_after == 0
        assert [e.kind_label for e in entries[1:3]] == ["Réservation", "Débit"]
        _assert_consistent(account_id)


def test_reserve_beyond_available_is_refused(app, account_id):
    from backoffice.extensions import db
    from backoffice.services import ledger
    from backoffice.services.ledger import InsufficientFunds
    from backoffice.services.money import format_amount

    with app.app_context():
        ledger.reserve(account_id, 400_000_000, "lot-1")
        db.session.commit()
        with pytest.raises(InsufficientFunds) as refused:
            ledger.reserve(account_id, 100_000_001, "lot-2")
        assert "Fonds disponibles insuffisants sur ACC-CNSS-001" in str(refused.value)
        assert f"{format_amount(100_000_000, 'XOF')} disponibles" in str(refused.value)
        # Exactly the available amount is fine.
        ledger.reserve(account_id, 100_000_000, "lot-2")
        db.session.commit()
        assert _state(account_id)[:2] == (500_000_000, 500_000_000)


def test_release_beyond_reserved_and_bad_amounts_are_refused(app, account_id):
    from backoffice.services import ledger

    with app.app_context():
        before = _state(account_id)
        with pytest.raises(ServiceError):
            ledger.release(account_id, 1, "rien")
        for bad in (0, -10, 1.5, "100", True):
            with pytest.raises(ServiceError):
                ledger.credit(account_id, bad, "x")
        with pytest.raises(ServiceError, match="motif"):
            ledger.top_up(account_id, 100, "   ", None)
        assert _state(account_id) == before


def test_a_rolled_back_movement_leaves_no_trace(app, account_id):
    """The ledger never commits: a caller's failure takes the movement back with it."""
    from backoffice.extensions import db
    from backoffice.services import ledger

    with app.app_context():
        before = _state(account_id)
        ledger.reserve(account_id, 5_000, "lot-annulé")
        db.session.rollback()
        assert _state(account_id) == before


def _in_threads(app, count: int, work) -> list[BaseException | None]:
    """Run work(i) in `count` threads at once, each with its own app context and session."""
    from backoffice.extensions import db

    barrier = threading.Barrier(count)
    outcomes: list[BaseException | None] = [None] * count

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                work(i)
                db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                db.session.rollback()
                outcomes[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


@pytest.mark.postgres_only
def test_concurrent_top_ups_all_count(app, account_id):
    from backoffice.services import ledger

    outcomes = _in_threads(app, 10, lambda i: ledger.top_up(account_id, 1_000 + i, f"approvisionnement {i}", None))
    assert outcomes == [None] * 10
    with app.app_context():
        balance, reserved, entries = _state(account_id)
        assert balance == 500_000_000 + sum(1_000 + i for i in range(10))
        assert entries == 11
        _assert_consistent(account_id)


@pytest.mark.postgres_only
def test_concurrent_reservations_never_overdraw(app, demo):
    """Ten reservations race for funds that cover five: exactly five win."""
    from backoffice.extensions import db
    from backoffice.services import ledger
    from backoffice.services.ledger import InsufficientFunds

    account_id = demo["accounts"]["ACC-CNSS-001"]
    with app.app_context():
        ledger.reserve(account_id, 500_000_000 - 500, "occupé")
        db.session.commit()
    outcomes = _in_threads(app, 10, lambda i: ledger.reserve(account_id, 100, f"lot-{i}"))
    assert sum(o is None for o in outcomes) == 5
    assert all(o is None or isinstance(o, InsufficientFunds) for o in outcomes)
    with app.app_context():
        balance, reserved, _ = _state(account_id)
        assert reserved == balance == 500_000_000
        _assert_consistent(account_id)
