"""Payer accounts and their ledger: every balance change is a ledger entry."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.organisations import Organisation


class EntryKind(enum.StrEnum):
    TOPUP = "TOPUP"  # balance +
    CREDIT = "CREDIT"  # balance + (money received, e.g. fines collected)
    DEBIT = "DEBIT"  # balance - (money paid out, fees included)
    RESERVE = "RESERVE"  # reserved +
    RELEASE = "RELEASE"  # reserved -


ENTRY_LABELS = {
    EntryKind.TOPUP: "Approvisionnement",
    EntryKind.CREDIT: "Crédit",
    EntryKind.DEBIT: "Débit",
    EntryKind.RESERVE: "Réservation",
    EntryKind.RELEASE: "Libération",
}

PARTY_ID_TYPES = ("MSISDN", "PERSONAL_ID", "BUSINESS", "DEVICE", "ACCOUNT_ID", "IBAN", "ALIAS")


class Account(db.Model):
    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("reserved >= 0", name="reserved_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    currency: Mapped[str] = mapped_column(String(3))
    party_id_type: Mapped[str] = mapped_column(String(20))
    party_id_value: Mapped[str] = mapped_column(String(128))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship()

    @property
    def available(self) -> int:
        return self.balance - self.reserved

    def __repr__(self) -> str:
        return f"<Account {self.account_id} {self.currency}>"


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_ledger_entries_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reserved_after: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship()
    user = relationship("User")

    @property
    def kind_label(self) -> str:
        return ENTRY_LABELS.get(EntryKind(self.kind), self.kind)
