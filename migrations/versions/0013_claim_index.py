"""pipeline: a partial index of the rows waiting to be sent, for the claim

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


def upgrade():
    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_batch_rows_pending", ["batch_id", "id"], unique=False, postgresql_where=PENDING, sqlite_where=PENDING
        )


def downgrade():
    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_rows_pending")
