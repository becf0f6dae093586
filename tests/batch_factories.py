"""Helpers shared by the batch tests: import a file through the real service, move a batch along."""

from __future__ import annotations

import io

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.batches import Batch, BatchRow


def user(email: str) -> User:
    return db.session.scalar(db.select(User).where(User.email == email))


def import_bytes(
    demo: dict,
    content: bytes,
    account: str = "ACC-CNSS-001",
    email: str = "gestionnaire1@cnss.bj",
    label: str = "Test",
    file_name: str = "test.csv",
) -> int:
    """Import a file as `email` (inside an app context) and commit; returns the batch id."""
    from backoffice.services.bulk.importing import create_from_upload

    try:
        batch = create_from_upload(user(email), demo["accounts"][account], label, io.BytesIO(content), file_name)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return batch.id


def rows_of(batch_id: int) -> list[BatchRow]:
    return list(
        db.session.scalars(db.select(BatchRow).where(BatchRow.batch_id == batch_id).order_by(BatchRow.line_number))
    )


def batch(batch_id: int) -> Batch:
    db.session.expire_all()
    return db.session.get(Batch, batch_id)


PAYMENT_LIST = (
    b"type_id,valeur_id,devise,montant,nom_complet\n"
    b"PERSONAL_ID,1000000001,XOF,10000,Awa Dossou\n"
    b"PERSONAL_ID,1000000002,XOF,20000,Koffi Agossou\n"
    b"MSISDN,22997000003,XOF,5000,R\xc3\xa9mi Houngb\xc3\xa9dji\n"
)
