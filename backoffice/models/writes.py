"""Inserting a few related rows in one database round trip.

The fines API stores a payment, its fine claims and its first timeline line for every
request it accepts. Through the ORM that is three INSERT round trips plus the unit of
work's bookkeeping, about 1.5 ms of CPU per request (benchmarks/RESULTS.md). Here the
rows are plain dicts written with Core, and on PostgreSQL through psycopg2 the INSERTs
travel as one query (psycopg2 interpolates the parameters client-side), which the
server runs as one implicit transaction ("a simple Query message with several statements
is executed as a single transaction"): either every row is written or none is, and a
unique index that refuses a row raises IntegrityError as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from backoffice.extensions import db

Inserts = Sequence[tuple[Table, Sequence[dict[str, Any]]]]


def insert_together(inserts: Inserts) -> None:
    """Insert every (table, rows) pair, in order, all or nothing, on a connection of its own.

    Columns left out of a row take their scalar Python default (as `Table.insert()` would).
    A constraint that refuses a row raises sqlalchemy.exc.IntegrityError and nothing is written.
    """
    inserts = [(table, [_with_defaults(table, row) for row in rows]) for table, rows in inserts if rows]
    with db.engine.connect() as connection:
        if connection.dialect.driver == "psycopg2":  # binds client-side: ';' joins statements
            # No BEGIN/COMMIT round trips: the server runs the statements of one query as
            # one implicit transaction. psycopg2's own autocommit switch, flipped back before
            # the connection returns to the pool (SQLAlchemy's isolation_level="AUTOCOMMIT"
            # would cost a server round trip to reset it, ~0.1 ms per request).
            driver_connection = connection.connection.dbapi_connection
            driver_connection.autocommit = True
            try:
                connection.exec_driver_sql(*_one_query(connection.dialect, inserts))
            finally:
                driver_connection.autocommit = False
        else:
            with connection.begin():
                for table, rows in inserts:
                    connection.execute(table.insert(), rows)


def _with_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    missing = {key: value for key, value in _scalar_defaults(table).items() if key not in row}
    return {**missing, **row} if missing else row


@cache
def _scalar_defaults(table: Table) -> dict[str, Any]:
    return {
        column.key: column.default.arg
        for column in table.columns
        if column.default is not None and column.default.is_scalar
    }


@cache
def _bind_processors(table: Table, dialect: Dialect) -> dict[str, Any]:
    """Per column, how the driver wants the value (JSON columns are serialised, for one)."""
    processors = {}
    for column in table.columns:
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[column.key] = processor
    return processors


def _one_query(dialect: Dialect, inserts: Inserts) -> tuple[str, tuple[Any, ...]]:
    """'INSERT …; INSERT …' with positional parameters, for a driver that sends it as one query."""
    params: list[Any] = []
    shape = []
    for table, rows in inserts:
        columns = tuple(rows[0])
        processors = [_bind_processors(table, dialect).get(column) for column in columns]
        for row in rows:
            if tuple(row) != columns:
                raise ValueError(f"rows for {table.name} must all have the same columns")
            for column, processor in zip(columns, processors, strict=True):
                value = row[column]
                params.append(processor(value) if processor is not None and value is not None else value)
        shape.append((table, columns, len(rows)))
    return _statement_text(dialect, tuple(shape)), tuple(params)  # a tuple: one set of parameters


@cache
def _statement_text(dialect: Dialect, shape: tuple[tuple[Table, tuple[str, ...], int], ...]) -> str:
    quote = dialect.identifier_preparer
    statements = []
    for table, columns, count in shape:
        column_list = ", ".join(quote.quote(column) for column in columns)
        one_row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        statements.append(
            f"INSERT INTO {quote.format_table(table)} ({column_list}) VALUES {', '.join([one_row] * count)}"
        )
    return ";\n".join(statements)
