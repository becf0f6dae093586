"""Find a beneficiary across all the organisation's batches and months ("je n'ai pas été payé").

By number: the typed number is read with the organisation's country, as at import, and
looked up exactly (index on the identifier), Bénin's former and new forms both. By name:
accents and case do not matter, nor the order of the words: each word typed must be a
word of the name (a single letter matches an initial). PostgreSQL uses the full-text index of migration 0007 on the unaccented
name; SQLite folds names with a Python function of the same name (no index).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, and_, func, literal, literal_column, or_, select

from backoffice.extensions import db
from backoffice.models.batches import ROW_STATUS_LABELS, Batch, BatchRow, RowStatus
from backoffice.models.organisations import Organisation
from backoffice.services import parties
from backoffice.services.bulk.guard import period_label
from backoffice.services.bulk.verification import plain_words

MAX_RESULTS = 100
MAX_SCANNED = 5000  # matching rows read before the newest MAX_RESULTS are kept


@dataclass(frozen=True)
class Payment:
    batch_id: int
    reference: str
    period: str
    id_type: str
    id_value: str
    name: str
    amount: int | None
    currency: str
    status: str
    status_label: str
    date: datetime
    error: str


def _fold(text: str | None) -> str | None:
    return " ".join(plain_words(text)) if text is not None else None


def _folded(column):
    """The column without accents or case: PostgreSQL's unaccent (indexed, migration 0007);
    on SQLite the same Python folding as the name match, registered on the connection."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.connection.dbapi_connection.create_function("bo_unaccent", 1, _fold, deterministic=True)
        return func.bo_unaccent(column)
    return func.bo_unaccent(func.lower(column))


def _name_matches(words: list[str]):
    """Every word of the search is a word of the name (a single letter: an initial), in any
    order, accents and case aside.

    PostgreSQL: full-text query on the indexed `to_tsvector('simple', bo_unaccent(lower(name)))`
    (the cost follows the rarest word, where a trigram index pays for the commonest);
    SQLite: LIKE on the folded name, no index.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        vector = func.to_tsvector(literal_column("'simple'"), func.bo_unaccent(func.lower(BatchRow.name)))
        # Whole words are matched exactly (GIN intersects their posting lists, skipping
        # through the common ones); a prefix match reads every entry of the prefix, so only
        # an initial ("k") is a prefix.
        query = func.to_tsquery(literal_column("'simple'"), " & ".join(w if len(w) > 1 else f"{w}:*" for w in words))
        return vector.op("@@")(query)
    # The folded name is its words joined by single spaces: pad it to match whole words.
    padded = literal(" ", String()).concat(_folded(BatchRow.name)).concat(literal(" ", String()))
    return and_(*(padded.like(f"% {_escape_like(w)}{' ' if len(w) > 1 else ''}%", escape="\\") for w in words))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def number_forms(q: str, country: str) -> set[str]:
    """The stored forms a typed number may have: as typed, international, both Bénin forms."""
    cleaned = q.strip().replace(" ", "")
    forms = {cleaned, cleaned.lstrip("+")}
    number = parties.parse_msisdn(q, country)
    if number.valid:
        forms.add(number.value)
        if number.former_benin:
            forms |= {number.former_benin, parties.BENIN + number.former_benin[5:]}
    return {f for f in forms if f}


def search_payments(organisation_id: int, q: str, limit: int = MAX_RESULTS) -> list[Payment]:
    """Every row paying this beneficiary (number or name) in the organisation's batches, newest first."""
    q = (q or "").strip()[:100]
    if len(q) < 2:
        return []
    organisation = db.session.get(Organisation, organisation_id)
    digits = q.lstrip("+").replace(" ", "").replace(".", "").replace("-", "")
    if digits.isdigit() and len(digits) >= 6:
        match = BatchRow.party_id_value.in_(number_forms(q, organisation.country if organisation else ""))
    else:
        words = plain_words(q)
        if not words:
            return []
        match = or_(_name_matches(words), BatchRow.party_id_value == q)
    # The matching rows first (an index each way), then their batches, newest first: left to
    # itself the planner may walk every batch by date and test each row against the name.
    matches = (
        select(BatchRow.id)
        .join(Batch, Batch.id == BatchRow.batch_id)
        .where(match, Batch.organisation_id == organisation_id)
        .limit(MAX_SCANNED)
        .cte("matches")
    )
    if db.session.get_bind().dialect.name == "postgresql":
        matches = matches.prefix_with("MATERIALIZED")
    stmt = (
        select(BatchRow, Batch)
        .join(matches, matches.c.id == BatchRow.id)
        .join(Batch, Batch.id == BatchRow.batch_id)
        .order_by(Batch.created_at.desc(), BatchRow.line_number)
        .limit(limit)
    )
    results = []
    for row, batch in db.session.execute(stmt).all():
        error = " ".join(filter(None, [row.error_code, row.error_description]))
        if not error and row.errors:
            error = " ; ".join(e["message"] for e in row.errors)
        results.append(
            Payment(
                batch_id=batch.id,
                reference=batch.reference,
                period=period_label(batch.payment_period),
                id_type=row.party_id_type,
                id_value=row.party_id_value,
                name=row.name or row.payee_name or "",
                amount=row.amount,
                currency=row.currency or batch.currency,
                status=row.status,
                status_label=ROW_STATUS_LABELS.get(RowStatus(row.status), row.status),
                date=row.completed_at or batch.created_at,
                error=error,
            )
        )
    return results
