"""Searches that forgive accents and case: « gbedji » finds « Gbèdji », « decembre » « décembre ».

`folded(column).like(pattern(q))` compares both sides folded the same way: lower case,
accents removed. PostgreSQL does it with the `unaccent` extension (through the IMMUTABLE
wrapper `f_unaccent` that migration 0008 creates, so that trigram indexes can use it);
SQLite with the same Python function as `fold_text`, registered on each connection.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def fold_text(text: str | None) -> str:
    """Lower case without accents (`Gbèdji` → `gbedji`, `Œuvre` → `oeuvre`)."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


# Between the parts of a row's search text, so that a search never matches across two parts.
SEARCH_SEPARATOR = "\x1f"


def row_search_text(*parts: str | None) -> str:
    """A batch row's stored search text: its identifier and names, folded, joined."""
    return SEARCH_SEPARATOR.join(fold_text(p) for p in parts if p)


def search_suffix(name: str | None) -> str | None:
    """What a name learnt later (the switch's) appends to a row's search text; None: nothing."""
    return SEARCH_SEPARATOR + fold_text(name) if name else None


class folded(FunctionElement):  # noqa: N801 - a SQL function, named like one
    """`folded(expr)`: the SQL side of fold_text."""

    type = String()
    name = "fold"
    inherit_cache = True


@compiles(folded)
def _folded_sqlite(element, compiler, **kw):
    return f"fold({compiler.process(element.clauses, **kw)})"


@compiles(folded, "postgresql")
def _folded_postgresql(element, compiler, **kw):
    return f"lower(f_unaccent({compiler.process(element.clauses, **kw)}))"


def pattern(q: str) -> str:
    """The LIKE pattern of a search box's text, folded, its wildcards escaped (escape='\\')."""
    text = fold_text(q.strip())
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def matches(column, q: str):
    """`column` contains `q`, accents and case ignored."""
    return folded(column).like(pattern(q), escape="\\")


def register_sqlite(dbapi_connection) -> None:
    """Give a SQLite connection the `fold` function (deterministic, so usable in indexes)."""
    dbapi_connection.create_function("fold", 1, fold_text, deterministic=True)
