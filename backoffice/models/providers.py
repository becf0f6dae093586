"""Payee providers: the FSPs beneficiaries are paid into, with their display names."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.extensions import db
from backoffice.models.base import utcnow


class PayeeProvider(db.Model):
    """A financial service provider that beneficiaries are paid into (Mojaloop FSP id)."""

    __tablename__ = "payee_providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    fsp_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<PayeeProvider {self.fsp_id}>"
