"""pipeline: a partial index of the rows waiting to be sent, for the claim; partial indexes
where a row version needs no entry (each payment writes its row twice)

Revision ID: 0013_claim_index
Revises: 0012_ops_exports
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_claim_index"
down_revision = "0012_ops_exports"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'PENDING'")
# index → (columns, its predicate now); before this migration each covered every row.
PARTIAL = {
    "ix_batch_rows_status_sending": (["status", "sending_since"], "status IN ('SENDING', 'UNKNOWN')"),
    "ix_batch_rows_error_code": (["error_code", "batch_id"], "error_code IS NOT NULL"),
    "ix_batch_rows_payee_fsp": (["payee_fsp_id", "batch_id"], "payee_fsp_id IS NOT NULL"),
}


def upgrade():
    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_batch_rows_pending", ["batch_id", "id"], unique=False, postgresql_where=PENDING, sqlite_where=PENDING
        )
        for name, (columns, where) in PARTIAL.items():
            batch_op.drop_index(name)
            predicate = sa.text(where)
            batch_op.create_index(name, columns, unique=False, postgresql_where=predicate, sqlite_where=predicate)


def downgrade():
    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        for name, (columns, _where) in PARTIAL.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)
        batch_op.drop_index("ix_batch_rows_pending")
