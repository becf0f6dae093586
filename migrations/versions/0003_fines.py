"""fines payments: API clients, payments, timeline

Revision ID: 0003_fines
Revises: 0002_bulk
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_fines'
down_revision = '0002_bulk'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
