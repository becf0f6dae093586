"""sending pipeline: tries refused before the request left, counted apart from attempts

Revision ID: 0010_pipeline
Revises: 0005_security
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_pipeline'
down_revision = '0005_security'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refusals', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.drop_column('refusals')
