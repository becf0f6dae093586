"""trust: organisation country, payment period, content fingerprint, payee verification, guard flags

Revision ID: 0007_trust
Revises: 0010_pipeline
"""

from alembic import op
import sqlalchemy as sa


revision = "0007_trust"
down_revision = '0010_pipeline'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), server_default="", nullable=False))
    op.execute("UPDATE organisations SET country = 'BJ' WHERE code = 'CNSS'")
    op.execute("UPDATE organisations SET country = 'MR' WHERE code = 'NEXT'")

    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_period", sa.String(length=7), server_default="", nullable=False))
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("repay_of_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("verification_status", sa.String(length=12), server_default="", nullable=False))
        batch_op.add_column(sa.Column("verified_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("acknowledgement", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_batches_repay_of_id_batches"), "batches", ["repay_of_id"], ["id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_batches_acknowledged_by_id_users"), "users", ["acknowledged_by_id"], ["id"]
        )
        batch_op.create_index("ix_batches_content_sha256", ["organisation_id", "content_sha256"], unique=False)
        batch_op.create_index("ix_batches_org_period", ["organisation_id", "payment_period"], unique=False)
    # Batches from before: the month they were created in.
    op.execute(
        "UPDATE batches SET payment_period = substr(CAST(created_at AS VARCHAR(32)), 1, 7) WHERE payment_period = ''"
    )

    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("party_id_written", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("duplicate_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("already_paid", sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column("lookup_status", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("lookup_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("lookup_fsp_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("name_score", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("name_match", sa.String(length=12), nullable=True))
        batch_op.create_index("ix_batch_rows_party", ["party_id_value", "party_id_type"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # The beneficiary search by name: accents and case folded by an immutable wrapper of
        # unaccent (usable in an index), and the name's words in a full-text GIN index.
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        op.execute(
            "CREATE OR REPLACE FUNCTION bo_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
            "AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$"
        )
        op.execute(
            "CREATE INDEX ix_batch_rows_name_words ON batch_rows "
            "USING gin (to_tsvector('simple', bo_unaccent(lower(name))))"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_batch_rows_name_words")
        op.execute("DROP FUNCTION IF EXISTS bo_unaccent(text)")
    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_rows_party")
        for column in (
            "name_match",
            "name_score",
            "lookup_fsp_id",
            "lookup_name",
            "lookup_status",
            "already_paid",
            "duplicate_reason",
            "party_id_written",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index("ix_batches_org_period")
        batch_op.drop_index("ix_batches_content_sha256")
        batch_op.drop_constraint(batch_op.f("fk_batches_acknowledged_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_batches_repay_of_id_batches"), type_="foreignkey")
        for column in (
            "acknowledged_at",
            "acknowledged_by_id",
            "acknowledgement",
            "verified_at",
            "verification_status",
            "repay_of_id",
            "content_sha256",
            "payment_period",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("country")
