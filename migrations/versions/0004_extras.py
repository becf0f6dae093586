"""dashboards, beneficiary lists, payee providers, notifications

Revision ID: 0004_extras
Revises: 0003_fines
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_extras'
down_revision = '0003_fines'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
