"""operations: a folded search text on batch rows (indexed), amounts typed for a batch from a
list kept in a draft between pages

Revision ID: 0012_ops_exports
Revises: 0011_api_period
"""
import unicodedata

from alembic import op
import sqlalchemy as sa


revision = "0012_ops_exports"
down_revision = "0011_api_period"
branch_labels = None
depends_on = None

BACKFILL_CHUNK = 5000
SEPARATOR = "\x1f"


def _fold(text):
    # A copy of services/search.py fold_text as of this migration (migrations do not import the app).
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _backfill(bind):
    """Existing rows get their search text, folded in Python exactly as at import, by chunks."""
    rows = sa.table(
        "batch_rows",
        sa.column("id", sa.Integer),
        sa.column("party_id_value", sa.String),
        sa.column("name", sa.String),
        sa.column("payee_name", sa.String),
        sa.column("search_text", sa.Text),
    )
    last = 0
    while True:
        chunk = bind.execute(
            sa.select(rows.c.id, rows.c.party_id_value, rows.c.name, rows.c.payee_name)
            .where(rows.c.id > last)
            .order_by(rows.c.id)
            .limit(BACKFILL_CHUNK)
        ).all()
        if not chunk:
            return
        bind.execute(
            rows.update().where(rows.c.id == sa.bindparam("b_id")).values(search_text=sa.bindparam("b_text")),
            [{"b_id": i, "b_text": SEPARATOR.join(_fold(p) for p in parts if p)} for i, *parts in chunk],
        )
        last = chunk[-1][0]


def upgrade():
    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    _backfill(op.get_bind())
    # No index on search_text: see the model (BatchRow.__table_args__).

    op.create_table(
        "beneficiary_amount_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["beneficiary_entries.id"], name=op.f("fk_beneficiary_amount_drafts_entry_id_beneficiary_entries"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["beneficiary_lists.id"], name=op.f("fk_beneficiary_amount_drafts_list_id_beneficiary_lists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_beneficiary_amount_drafts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beneficiary_amount_drafts")),
        sa.UniqueConstraint("list_id", "user_id", "entry_id", name="uq_beneficiary_amount_drafts"),
    )
    with op.batch_alter_table("beneficiary_amount_drafts", schema=None) as batch_op:
        batch_op.create_index("ix_beneficiary_amount_drafts_entry_id", ["entry_id"], unique=False)


def downgrade():
    with op.batch_alter_table("beneficiary_amount_drafts", schema=None) as batch_op:
        batch_op.drop_index("ix_beneficiary_amount_drafts_entry_id")
    op.drop_table("beneficiary_amount_drafts")
    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        batch_op.drop_column("search_text")
