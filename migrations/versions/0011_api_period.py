"""API batches read the batch's own payment period; webhook endpoints choose their events

The API's `periode` filter reads `batches.payment_period` (set from `periode` at creation),
so the redundant `api_batches.periode` goes. Webhook endpoints gain `events` (the event
types they receive; NULL: all of them, as before).

Revision ID: 0011_api_period
Revises: 0006_api
Create Date: 2026-12-01 12:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011_api_period"
down_revision = "0006_api"
branch_labels = None
depends_on = None


def upgrade():
    # Every API batch got its period copied at creation; copy again any that were not.
    op.execute(
        "UPDATE batches SET payment_period = (SELECT periode FROM api_batches WHERE api_batches.batch_id = batches.id) "
        "WHERE payment_period = '' AND EXISTS (SELECT 1 FROM api_batches "
        "WHERE api_batches.batch_id = batches.id AND api_batches.periode IS NOT NULL)"
    )
    with op.batch_alter_table("api_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_batches_periode"))
        batch_op.drop_column("periode")
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("events", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("events")
    with op.batch_alter_table("api_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("periode", sa.String(length=7), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_batches_periode"), ["periode"], unique=False)
    op.execute(
        "UPDATE api_batches SET periode = (SELECT NULLIF(payment_period, '') FROM batches "
        "WHERE batches.id = api_batches.batch_id)"
    )
