"""Bulk payment batches, their rows and their timeline.

Money columns are integers of the currency's minor unit. A row's state machine and a
batch's state machine are written out in services (see docs/bulk-payments.md); the string values live
here so that queries and templates share them.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.accounts import Account
from backoffice.models.base import TimelineLine, utcnow
from backoffice.models.organisations import Organisation


class BatchStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    PROCESSING = "PROCESSING"
    PAUSED = "PAUSED"  # a gestionnaire paused it: no row is claimed, rows in flight settle
    CANCELLING = "CANCELLING"  # cancelled while paid: unsent rows cancelled, sent ones settle
    COMPLETED = "COMPLETED"
    PARTIALLY_COMPLETED = "PARTIALLY_COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        """Nothing happens to the batch any more (a NEEDS_REVIEW row may still be decided)."""
        return self in FINAL_BATCH_STATUSES


BATCH_STATUS_LABELS = {
    BatchStatus.DRAFT: "Brouillon",
    BatchStatus.PENDING_APPROVAL: "En attente d'approbation",
    BatchStatus.APPROVED: "Approuvé",
    BatchStatus.PROCESSING: "En cours de paiement",
    BatchStatus.PAUSED: "En pause",
    BatchStatus.CANCELLING: "Annulation en cours",
    BatchStatus.COMPLETED: "Terminé",
    BatchStatus.PARTIALLY_COMPLETED: "Partiellement terminé",
    BatchStatus.FAILED: "Échoué",
    BatchStatus.CANCELLED: "Annulé",
    BatchStatus.REJECTED: "Rejeté",
}

FINAL_BATCH_STATUSES = frozenset(
    {
        BatchStatus.COMPLETED,
        BatchStatus.PARTIALLY_COMPLETED,
        BatchStatus.FAILED,
        BatchStatus.CANCELLED,
        BatchStatus.REJECTED,
    }
)
# Batches being paid: their rows move (or, paused, may still settle); pages follow them live.
LIVE_BATCH_STATUSES = frozenset(
    {BatchStatus.APPROVED, BatchStatus.PROCESSING, BatchStatus.PAUSED, BatchStatus.CANCELLING}
)
# Batches whose rows may have been paid; the others (draft, cancelled …) have no outcome.
PAID_BATCH_STATUSES = frozenset(
    {BatchStatus.APPROVED, BatchStatus.PROCESSING, BatchStatus.PAUSED, BatchStatus.CANCELLING}
    | FINAL_BATCH_STATUSES - {BatchStatus.CANCELLED, BatchStatus.REJECTED}
)


class RowStatus(enum.StrEnum):
    PENDING = "PENDING"  # valid, waiting to be paid (or, in a draft, to be submitted)
    INVALID = "INVALID"  # failed validation, in a draft
    SKIPPED = "SKIPPED"  # invalid row excluded at submission
    SENDING = "SENDING"  # a live job holds it and is calling the adapter
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"  # 504 / timeout / lost connection: settled by the status endpoint
    NEEDS_REVIEW = "NEEDS_REVIEW"  # settle budget spent: a person decides
    CANCELLED = "CANCELLED"  # never sent, the batch was cancelled while paid: its amount released

    @property
    def is_moving(self) -> bool:
        """A processing batch still waits for this row (it is not final before the row is)."""
        return self in MOVING_ROW_STATUSES


# Rows of a PROCESSING batch still on their way to an outcome.
MOVING_ROW_STATUSES = frozenset({RowStatus.PENDING, RowStatus.SENDING, RowStatus.UNKNOWN})
# Rows whose outcome is known: their ledger share (DEBIT and/or RELEASE) is written once.
SETTLED_ROW_STATUSES = frozenset({RowStatus.COMPLETED, RowStatus.FAILED, RowStatus.CANCELLED})
# Rows a batch is done with: settled, or left to a person with their amount still reserved.
ENDED_ROW_STATUSES = SETTLED_ROW_STATUSES | {RowStatus.NEEDS_REVIEW}
# Rows that were never to be paid (invalid in a draft, excluded at submission).
UNPAID_ROW_STATUSES = frozenset({RowStatus.INVALID, RowStatus.SKIPPED})


ROW_STATUS_LABELS = {
    RowStatus.PENDING: "En attente",
    RowStatus.INVALID: "Invalide",
    RowStatus.SKIPPED: "Exclu",
    RowStatus.SENDING: "En cours d'envoi",
    RowStatus.COMPLETED: "Payé",
    RowStatus.FAILED: "Échoué",
    RowStatus.UNKNOWN: "Issue inconnue",
    RowStatus.NEEDS_REVIEW: "À vérifier",
    RowStatus.CANCELLED: "Annulé",
}

# Payee verification: the lookup's outcome and how well the returned name matches the file's.
LOOKUP_LABELS = {
    "FOUND": "Trouvé",
    "NOT_FOUND": "Introuvable",
    "UNVERIFIED": "Non vérifié",
}
NAME_MATCH_LABELS = {
    "CONCORDANT": "Concordant",
    "A_CONTROLER": "À contrôler",
    "DISCORDANT": "Discordant",
}
# Batches whose rows will be or may have been paid: a second payment of their payees is flagged.
ACTIVE_BATCH_STATUSES = frozenset({BatchStatus.PENDING_APPROVAL, BatchStatus.APPROVED, BatchStatus.PROCESSING})


class Batch(db.Model):
    __tablename__ = "batches"
    __table_args__ = (
        Index("ix_batches_org_status", "organisation_id", "status"),
        Index("ix_batches_org_created", "organisation_id", "created_at"),
        Index("ix_batches_file_sha256", "organisation_id", "file_sha256"),
        Index("ix_batches_content_sha256", "organisation_id", "content_sha256"),
        Index("ix_batches_org_period", "organisation_id", "payment_period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)  # e.g. LOT-20261125-0001
    label: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(24), default=BatchStatus.DRAFT.value)
    currency: Mapped[str] = mapped_column(String(3))

    # The uploaded file
    file_name: Mapped[str] = mapped_column(String(255), default="")
    file_sha256: Mapped[str] = mapped_column(String(64), default="")
    file_format: Mapped[str] = mapped_column(String(24), default="")  # standard, payment_list, recipients, accounts

    # Validation figures, computed while streaming the file
    row_count: Mapped[int] = mapped_column(default=0)
    valid_count: Mapped[int] = mapped_column(default=0)
    invalid_count: Mapped[int] = mapped_column(default=0)
    warning_count: Mapped[int] = mapped_column(default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # sum of valid rows
    exclude_invalid: Mapped[bool] = mapped_column(default=False)

    # Trust: the month paid ("2026-12"), the fingerprint of the rows whatever the file's
    # layout, the batch a re-payment comes from, the payee lookup, and the approver's
    # acknowledgement of flagged rows (see services/bulk/guard.py and verification.py).
    payment_period: Mapped[str] = mapped_column(String(7), default="", server_default="")
    content_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    repay_of_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    verification_status: Mapped[str] = mapped_column(String(12), default="", server_default="")
    verified_at: Mapped[datetime | None]
    acknowledgement: Mapped[str | None] = mapped_column(Text)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None]

    # Money set aside at approval, and what is left of it (0 at the end of a batch)
    reserved_amount: Mapped[int] = mapped_column(BigInteger, default=0)

    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    processing_started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
    account: Mapped[Account] = relationship()
    created_by = relationship("User", foreign_keys=[created_by_id])
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    approved_by = relationship("User", foreign_keys=[approved_by_id])
    rejected_by = relationship("User", foreign_keys=[rejected_by_id])
    cancelled_by = relationship("User", foreign_keys=[cancelled_by_id])
    acknowledged_by = relationship("User", foreign_keys=[acknowledged_by_id])
    repay_of = relationship("Batch", remote_side=[id], foreign_keys=[repay_of_id])

    @property
    def status_label(self) -> str:
        return BATCH_STATUS_LABELS.get(BatchStatus(self.status), self.status)

    @property
    def is_final(self) -> bool:
        return BatchStatus(self.status).is_final

    def __repr__(self) -> str:
        return f"<Batch {self.reference} {self.status}>"


def _search_text_default(context) -> str:
    """Rows inserted without their search text (tests, re-payments) get it from their values."""
    from backoffice.services.search import row_search_text

    values = context.get_current_parameters()
    return row_search_text(values.get("party_id_value"), values.get("name"), values.get("payee_name"))


class BatchRow(db.Model):
    __tablename__ = "batch_rows"
    __table_args__ = (
        UniqueConstraint("batch_id", "line_number", name="uq_batch_rows_batch_line"),
        # Covering on PostgreSQL: a batch's statistics (counts and sums by status) read the
        # index alone once the batch is settled and vacuumed.
        Index("ix_batch_rows_batch_status", "batch_id", "status", postgresql_include=["amount", "fee"]),
        # Partial indexes where a row version needs no entry: a payment writes each row twice
        # (claim, outcome), and every version of a row enters every index that covers it.
        Index(
            "ix_batch_rows_status_sending",
            "status",
            "sending_since",
            postgresql_where=text("status IN ('SENDING', 'UNKNOWN')"),
            sqlite_where=text("status IN ('SENDING', 'UNKNOWN')"),
        ),
        # The pipeline claims a batch's next PENDING rows by id: a partial index holds only
        # rows waiting to be sent, so a claim reads its block and nothing else (through the
        # (batch_id, status) index it read every row already claimed, dead versions included).
        Index(
            "ix_batch_rows_pending",
            "batch_id",
            "id",
            postgresql_where=text("status = 'PENDING'"),
            sqlite_where=text("status = 'PENDING'"),
        ),
        # History filters "batches with a row failing with code X / paid through provider Y".
        Index(
            "ix_batch_rows_error_code",
            "error_code",
            "batch_id",
            postgresql_where=text("error_code IS NOT NULL"),
            sqlite_where=text("error_code IS NOT NULL"),
        ),
        Index(
            "ix_batch_rows_payee_fsp",
            "payee_fsp_id",
            "batch_id",
            postgresql_where=text("payee_fsp_id IS NOT NULL"),
            sqlite_where=text("payee_fsp_id IS NOT NULL"),
        ),
        # The double-payment guard and the beneficiary search look a payee up across batches.
        Index("ix_batch_rows_party", "party_id_value", "party_id_type"),
        # The beneficiary search by name: its words, accents and case folded (PostgreSQL:
        # migration 0007 creates bo_unaccent, an immutable wrapper of unaccent).
        Index(
            "ix_batch_rows_name_words",
            text("to_tsvector('simple', bo_unaccent(lower(name)))"),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
        # The row search inside one batch reads `search_text`, folded once at import
        # (migration 0012), within the batch's rows (the batch_id index bounds the scan): no
        # index of its own. A trigram index took it from 54 to 9 ms p95 on 100 000 rows, but
        # made every import 21 % slower and every row's claim and outcome write dearer (each
        # new row version enters a GIN index), which the payment pipeline cannot afford.
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    line_number: Mapped[int]  # line in the file (header = line 1)
    status: Mapped[str] = mapped_column(String(16), default=RowStatus.PENDING.value)

    # As read from the file
    party_id_type: Mapped[str] = mapped_column(String(20), default="")
    party_id_value: Mapped[str] = mapped_column(String(128), default="")
    amount: Mapped[int | None] = mapped_column(BigInteger)  # None when unreadable
    currency: Mapped[str] = mapped_column(String(3), default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(String(200), default="")
    source_reference: Mapped[str] = mapped_column(String(128), default="")  # transferId column of the standard format
    party_id_written: Mapped[str | None] = mapped_column(String(128))  # as written, when reformatted
    duplicate_reason: Mapped[str | None] = mapped_column(String(200))  # same payee twice, allowed by the uploader
    # Déjà payé pour cette période: {"batch_id", "reference", "date", "amount", "status"} of the other payment
    already_paid: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))

    # Payee verification (GET /parties) before approval
    lookup_status: Mapped[str | None] = mapped_column(String(12))  # FOUND, NOT_FOUND, UNVERIFIED
    lookup_name: Mapped[str | None] = mapped_column(String(200))
    lookup_fsp_id: Mapped[str | None] = mapped_column(String(64))
    name_score: Mapped[int | None]  # 0-100
    name_match: Mapped[str | None] = mapped_column(String(12))  # CONCORDANT, A_CONTROLER, DISCORDANT

    # Validation: [{"field": ..., "message": ...}]; None is stored as SQL NULL so that
    # "rows with warnings" is a plain IS NOT NULL.
    errors: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    warnings: Mapped[list | None] = mapped_column(JSON(none_as_null=True))

    # Payment: our own transferId (UUID) is chosen at import and saved before any call.
    transfer_id: Mapped[str] = mapped_column(String(36), unique=True)
    home_transaction_id: Mapped[str] = mapped_column(String(64), default="")
    payee_name: Mapped[str | None] = mapped_column(String(200))
    payee_fsp_id: Mapped[str | None] = mapped_column(String(64))
    # The identifier, the file's name and the switch's name, folded (services/search.py
    # row_search_text): what the row search reads, so that no query folds a name.
    search_text: Mapped[str] = mapped_column(Text, default=_search_text_default, server_default="")
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_description: Mapped[str | None] = mapped_column(String(500))
    completed_at: Mapped[datetime | None]

    # Processing bookkeeping: who holds the row, since when, how often it was tried/checked
    sending_since: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(default=0)  # sends that left (or may have left)
    refusals: Mapped[int] = mapped_column(default=0, server_default="0")  # tries refused before leaving
    status_checks: Mapped[int] = mapped_column(default=0)
    next_check_at: Mapped[datetime | None]
    settled: Mapped[bool] = mapped_column(default=False)  # its ledger share (debit/release) is written
    updated_at: Mapped[datetime | None]

    batch: Mapped[Batch] = relationship()

    @property
    def status_label(self) -> str:
        return ROW_STATUS_LABELS.get(RowStatus(self.status), self.status)


class BatchEvent(TimelineLine, db.Model):
    """One line of a batch's timeline (also written to the audit log by the services)."""

    __tablename__ = "batch_events"
    __table_args__ = (Index("ix_batch_events_batch_created", "batch_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
