"""People who sign in, and the record of failed sign-ins used for throttling."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.organisations import Organisation


class Role(enum.StrEnum):
    GESTIONNAIRE = "GESTIONNAIRE"
    SUPERVISEUR = "SUPERVISEUR"


ROLE_LABELS = {Role.GESTIONNAIRE: "Gestionnaire", Role.SUPERVISEUR: "Superviseur"}


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(20), default=Role.GESTIONNAIRE.value)
    is_admin: Mapped[bool] = mapped_column(default=False)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Part of the id kept in the session cookie: raising it ends every session of the user.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # TOTP: the base32 secret (set at enrolment, confirmed by a first code) and the last
    # 30-second step accepted, so that a code is never accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # The single-use sign-in link of an invitation or a reset: only its SHA-256 is kept.
    invitation_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invitation_expires_at: Mapped[datetime | None]
    invitation_sent_at: Mapped[datetime | None]

    organisation: Mapped[Organisation | None] = relationship()

    def get_id(self) -> str:
        """Flask-Login's alternative id: `<id>:<session version>` (see security.load_user)."""
        return f"{self.id}:{self.session_version}"

    @property
    def has_second_factor(self) -> bool:
        return self.totp_secret is not None and self.totp_confirmed_at is not None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active and (self.organisation is None or self.organisation.active)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_gestionnaire(self) -> bool:
        return not self.is_admin and self.role == Role.GESTIONNAIRE and self.organisation_id is not None

    @property
    def is_superviseur(self) -> bool:
        return not self.is_admin and self.role == Role.SUPERVISEUR and self.organisation_id is not None

    @property
    def is_member(self) -> bool:
        """A member of an organisation's team (gestionnaire or superviseur)."""
        return self.is_gestionnaire or self.is_superviseur

    @property
    def role_label(self) -> str:
        if self.is_admin:
            return "Administrateur"
        return ROLE_LABELS.get(Role(self.role), self.role)

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class LoginFailure(db.Model):
    """One failed sign-in; recent rows lock the account and the address."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "created_at"),
        Index("ix_login_failures_ip_at", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(db.Model):
    """One of the ten single-use recovery codes of a user's second factor (hashed)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "code_hash", name="uq_recovery_codes_user_code"),)
