"""The migrations build exactly the schema the models describe (SQLite and PostgreSQL)."""

from __future__ import annotations


def test_models_and_migrations_agree(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from backoffice.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        # The *_folded trigram indexes are PostgreSQL-only expression indexes on
        # lower(f_unaccent(column)), created by migration 0008 for accent-free searches
        # (services/search.py): no model can declare them for both databases.
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, _parent: not (type_ == "index" and name.endswith("_folded")),
            },
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
