"""organisation time zone; audit actions of batches named batch.* like the others

Revision ID: 0008_locale
Revises: 0004_extras
"""
from alembic import op
import sqlalchemy as sa


revision = "0008_locale"
down_revision = "0004_extras"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("timezone", sa.String(length=64), server_default="Africa/Porto-Novo", nullable=False)
        )
    # The demo's Mauritanian organisation reads Nouakchott time (UTC+0).
    op.execute("UPDATE organisations SET timezone = 'Africa/Nouakchott' WHERE code = 'NEXT'")
    # One naming style in the audit log: batch.approved next to batch.finished.
    op.execute("UPDATE audit_events SET action = 'batch.' || substr(action, 9) WHERE action LIKE 'batches.%'")


def downgrade():
    op.execute(
        "UPDATE audit_events SET action = 'batches.' || substr(action, 7) "
        "WHERE action IN ('batch.imported', 'batch.submitted', 'batch.approved', 'batch.rejected', 'batch.cancelled')"
    )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("timezone")
