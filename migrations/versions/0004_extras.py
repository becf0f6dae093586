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
    op.create_table('payee_providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fsp_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payee_providers')),
    sa.UniqueConstraint('fsp_id', name=op.f('uq_payee_providers_fsp_id'))
    )
    op.create_table('beneficiary_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_beneficiary_lists_created_by_id_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_beneficiary_lists_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiary_lists')),
    sa.UniqueConstraint('organisation_id', 'name', name='uq_beneficiary_lists_org_name')
    )
    with op.batch_alter_table('beneficiary_lists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_beneficiary_lists_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('beneficiary_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('party_id_type', sa.String(length=20), nullable=False),
    sa.Column('party_id_value', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('default_amount', sa.BigInteger(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['list_id'], ['beneficiary_lists.id'], name=op.f('fk_beneficiary_entries_list_id_beneficiary_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiary_entries')),
    sa.UniqueConstraint('list_id', 'party_id_type', 'party_id_value', name='uq_beneficiary_entries_party')
    )
    with op.batch_alter_table('beneficiary_entries', schema=None) as batch_op:
        batch_op.create_index('ix_beneficiary_entries_list_active', ['list_id', 'active'], unique=False)

    op.create_table('beneficiary_list_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['beneficiary_lists.id'], name=op.f('fk_beneficiary_list_events_list_id_beneficiary_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_beneficiary_list_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiary_list_events'))
    )
    with op.batch_alter_table('beneficiary_list_events', schema=None) as batch_op:
        batch_op.create_index('ix_beneficiary_list_events_list_created', ['list_id', 'created_at'], unique=False)

    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.create_index('ix_batch_rows_batch_completed', ['batch_id', 'completed_at'], unique=False)

    op.create_table('batch_rollups',
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_batch_rollups_batch_id_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_batch_rollups_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_batch_rollups'))
    )
    with op.batch_alter_table('batch_rollups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_rollups_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('batch_day_stats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.String(length=16), nullable=True),
    sa.Column('error_description', sa.String(length=500), nullable=True),
    sa.Column('payee_fsp_id', sa.String(length=64), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch_rollups.batch_id'], name=op.f('fk_batch_day_stats_batch_id_batch_rollups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_batch_day_stats_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_day_stats'))
    )
    with op.batch_alter_table('batch_day_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_day_stats_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index('ix_batch_day_stats_org_day', ['organisation_id', 'day'], unique=False)


def downgrade():
    with op.batch_alter_table('batch_day_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_day_stats_org_day')
        batch_op.drop_index(batch_op.f('ix_batch_day_stats_batch_id'))

    op.drop_table('batch_day_stats')
    with op.batch_alter_table('batch_rollups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_rollups_organisation_id'))

    op.drop_table('batch_rollups')

    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_rows_batch_completed')

    with op.batch_alter_table('beneficiary_list_events', schema=None) as batch_op:
        batch_op.drop_index('ix_beneficiary_list_events_list_created')

    op.drop_table('beneficiary_list_events')
    with op.batch_alter_table('beneficiary_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_beneficiary_entries_list_active')

    op.drop_table('beneficiary_entries')
    with op.batch_alter_table('beneficiary_lists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_beneficiary_lists_organisation_id'))

    op.drop_table('beneficiary_lists')
    op.drop_table('payee_providers')
