"""audit action names in one style: batches.* becomes batch.*

Revision ID: 0004a_audit_action_names
Revises: 0004_extras

Data only: events written before the rename read like the new ones in the audit log and
its filters. Downgrade restores the old names.
"""
from alembic import op


revision = '0004a_audit_action_names'
down_revision = '0004_extras'
branch_labels = None
depends_on = None

RENAMED = ("imported", "submitted", "cancelled", "approved", "rejected")


def upgrade():
    for name in RENAMED:
        op.execute(f"UPDATE audit_events SET action = 'batch.{name}' WHERE action = 'batches.{name}'")


def downgrade():
    for name in RENAMED:
        op.execute(f"UPDATE audit_events SET action = 'batches.{name}' WHERE action = 'batch.{name}'")
