"""organisation time zone; searches
that ignore accents (PostgreSQL: unaccent behind an IMMUTABLE wrapper, trigram indexes)

Revision ID: 0008_locale
Revises: 0004a_audit_action_names
"""
from alembic import op
import sqlalchemy as sa


revision = "0008_locale"
down_revision = "0004a_audit_action_names"
branch_labels = None
depends_on = None


# Searches compare lower(f_unaccent(column)) LIKE '%…%' (backoffice/services/search.py). The
# wrapper is IMMUTABLE (unaccent() itself is only STABLE) so that expression indexes may use
# it; trigram GIN indexes serve the '%…%' pattern on the tables searched across batches.
# Rows of one batch are searched within that batch (its batch_id index bounds the scan), so
# batch_rows gets no such index: it would slow down every import's COPY.
FOLD_INDEXES = {
    "ix_batches_label_folded": ("batches", "label"),
    "ix_batches_reference_folded": ("batches", "reference"),
    "ix_beneficiary_entries_name_folded": ("beneficiary_entries", "name"),
    "ix_users_last_name_folded": ("users", "last_name"),
}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        # The extension's C function declared IMMUTABLE, and a one-argument SQL wrapper that
        # the planner inlines: a plain SQL wrapper around unaccent() is not inlined and costs
        # several microseconds a call, felt when a search scans a batch of 100 000 rows.
        op.execute(
            "CREATE OR REPLACE FUNCTION immutable_unaccent(regdictionary, text) RETURNS text "
            "LANGUAGE c IMMUTABLE PARALLEL SAFE STRICT AS '$libdir/unaccent', 'unaccent_dict'"
        )
        op.execute(
            "CREATE OR REPLACE FUNCTION f_unaccent(text) RETURNS text "
            "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
            "AS $$ SELECT immutable_unaccent(regdictionary 'unaccent', $1) $$"
        )
        for name, (table, column) in FOLD_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {table} USING gin (lower(f_unaccent({column})) gin_trgm_ops)")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("timezone", sa.String(length=64), server_default="Africa/Porto-Novo", nullable=False)
        )
    # The demo's Mauritanian organisation reads Nouakchott time (UTC+0).
    op.execute("UPDATE organisations SET timezone = 'Africa/Nouakchott' WHERE code = 'NEXT'")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in FOLD_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute("DROP FUNCTION IF EXISTS f_unaccent(text)")
        op.execute("DROP FUNCTION IF EXISTS immutable_unaccent(regdictionary, text)")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("timezone")
