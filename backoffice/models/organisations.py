"""An organisation: the institution (pension fund, fintech, authority) that pays."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.extensions import db
from backoffice.models.base import utcnow


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # ISO 3166 code (BJ, MR): the default country of phone numbers written without their code.
    country: Mapped[str] = mapped_column(String(2), default="", server_default="")
    active: Mapped[bool] = mapped_column(default=True)
    # IANA zone in which its people read every date and time (services/locale.py).
    timezone: Mapped[str] = mapped_column(String(64), default="Africa/Porto-Novo", server_default="Africa/Porto-Novo")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Organisation {self.code}>"
