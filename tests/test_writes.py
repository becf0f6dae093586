"""models/writes.py: related rows inserted all or nothing, in one query on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.fines import ApiClient, FinePayment, FinePaymentEvent, FinePaymentItem
from backoffice.models.writes import insert_together


def _rows(demo, payment_id: str, numero: str) -> list:
    client = db.session.scalar(select(ApiClient).where(ApiClient.organisation_id == demo["orgs"]["AMENDES"]))
    now = utcnow()
    payment = {
        "id": payment_id,
        "organisation_id": client.organisation_id,
        "api_client_id": client.id,
        "reference": f"REF-{payment_id}",
        "request_hash": "0" * 64,
        "telephone": "22997000001",
        "amount": 1000,
        "currency": "XOF",
        "debit_id": f"{payment_id}-debit",
        "refund_id": f"{payment_id}-refund",
        "created_at": now,
    }
    claim = {"payment_id": payment_id, "numero": numero, "active_numero": numero, "mark_id": f"{payment_id}-{numero}"}
    line = {"payment_id": payment_id, "step": "RECU", "request": {"montant": 1000, "é": "à"}, "created_at": now}
    return [
        (FinePayment.__table__, [payment]),
        (FinePaymentItem.__table__, [claim]),
        (FinePaymentEvent.__table__, [line]),
    ]


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_rows_are_written_with_their_defaults(app, demo):
    with app.app_context():
        insert_together(_rows(demo, "p1", "AM-1"))
        payment = db.session.get(FinePayment, "p1")
        assert payment.status == "RECU" and payment.debit_posts == 0 and payment.refund_amount == 0
        assert [item.numero for item in payment.items] == ["AM-1"] and payment.items[0].mark_posts == 0
        line = db.session.scalar(select(FinePaymentEvent).where(FinePaymentEvent.payment_id == "p1"))
        assert line.request == {"montant": 1000, "é": "à"} and line.response is None and line.message == ""


def test_a_refused_row_leaves_nothing_of_the_others(app, demo):
    with app.app_context():
        insert_together(_rows(demo, "p1", "AM-1"))
        with pytest.raises(IntegrityError):
            insert_together(_rows(demo, "p2", "AM-1"))  # the same active claim: the 2nd INSERT fails
        db.session.rollback()
        assert (_count(FinePayment), _count(FinePaymentItem), _count(FinePaymentEvent)) == (1, 1, 1)


@pytest.mark.postgres_only
def test_one_statement_on_postgresql(app, demo):
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        rows = _rows(demo, "p1", "AM-1")
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            insert_together(rows)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) == 1 and statements[0].count("INSERT INTO") == 3
