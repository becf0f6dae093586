"""The second factor: TOTP enrolment (QR code), code checks, recovery codes, an admin's reset.

A code is accepted once: the 30-second step it belongs to is written with a
compare-and-set, so a code seen over someone's shoulder (or sent twice at once) fails the
second time. Every check is counted by `services.throttle` before it runs, like passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, or_, select, update

from backoffice.extensions import db
from backoffice.models import RecoveryCode, User
from backoffice.models.base import utcnow
from backoffice.services import ServiceError, audit, throttle

# The one secret every demo user shares (README, `make run`): anyone can compute its codes,
# which is why `seed-demo` refuses to run in production.
DEMO_TOTP_SECRET = "MJQWG23PMZTGSY3FFVSGK3LPFUZGMYJB"
ISSUER = "Back-office paiements"
RECOVERY_CODE_COUNT = 10
STEP_SECONDS = 30
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
_DIGITS = re.compile(r"^[0-9]{6}$")


class CodeThrottled(ServiceError):
    """Too many wrong codes: the account's code checks are paused for a while."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, field="code")
        self.retry_after = retry_after


def required_for(user: User) -> bool:
    """Admins and gestionnaires must have a second factor (TWO_FACTOR_REQUIRED); superviseurs may."""
    return bool(current_app.config["TWO_FACTOR_REQUIRED"]) and (user.is_admin or user.is_gestionnaire)


def start_enrolment(user: User) -> str:
    """Give the user a secret to scan (kept until confirmed, so reloading shows the same QR code)."""
    if user.has_second_factor:
        raise ServiceError("La double authentification est déjà activée pour ce compte.")
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret or "").provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_code_svg(user: User) -> str:
    """The enrolment QR code as inline SVG markup: drawn on the server, no script, no external image."""
    return segno.make(provisioning_uri(user), error="m").svg_inline(scale=5, border=2, title="QR code d'enrôlement")


def _hash_recovery(code: str) -> str:
    return hashlib.sha256(_normalise_recovery(code).encode()).hexdigest()


def _normalise_recovery(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").upper()


def _new_recovery_codes(user: User) -> list[str]:
    """Ten fresh codes (the old ones stop working); shown once, only their hashes are kept."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_recovery(c)) for c in codes)
    return codes


def _throttle_key(user: User) -> str:
    return f"code:user:{user.id}"


def _count_attempt(user: User) -> None:
    limit = current_app.config["CODE_MAX_FAILURES"]
    minutes = current_app.config["LOGIN_LOCK_MINUTES"]
    outcome = throttle.hit(_throttle_key(user), limit, minutes * 60)
    if not outcome.allowed:
        raise CodeThrottled(
            f"Trop de codes erronés : vérification bloquée pendant {minutes} minutes. Réessayez plus tard.",
            outcome.retry_after,
        )


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The 30-second step (current, previous or next, for clock drift) whose code is `code`."""
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    found = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


def _claim_step(user: User, step: int) -> bool:
    """Record `step` as used, only if no later-or-equal step was used before (compare-and-set)."""
    claimed = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed == 1:
        user.totp_last_step = step
    return claimed == 1


def _claim_recovery_code(user: User, code: str) -> bool:
    row_id = db.session.scalar(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_recovery(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row_id is None:
        return False
    used = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return used == 1


def verify(user: User, code: str, *, allow_recovery: bool = True) -> str:
    """Check a TOTP code (or a recovery code); returns "totp" or "recovery", raises otherwise.

    The caller commits, and must commit even when it goes on to refuse something else:
    the used step is what stops the same code from being accepted again.
    """
    if not user.has_second_factor:
        raise ServiceError("La double authentification n'est pas activée pour ce compte.", field="code")
    code = (code or "").strip().replace(" ", "")
    if not code:
        raise ServiceError("Saisissez le code à 6 chiffres de votre application.", field="code")
    _count_attempt(user)
    if _DIGITS.match(code):
        step = _matching_step(user.totp_secret or "", code, time.time())
        if step is not None and _claim_step(user, step):
            throttle.reset(_throttle_key(user))
            return "totp"
        if step is not None:
            raise ServiceError("Ce code a déjà été utilisé : attendez le suivant.", field="code")
    elif allow_recovery and len(_normalise_recovery(code)) == 10 and _claim_recovery_code(user, code):
        throttle.reset(_throttle_key(user))
        audit.record(user, "user.recovery_code_used", user, remaining=remaining_recovery_codes(user))
        return "recovery"
    raise ServiceError("Code incorrect.", field="code")


def confirm_enrolment(user: User, code: str) -> list[str]:
    """The first code proves the app was set up: the factor is on; returns the recovery codes."""
    if user.has_second_factor:
        raise ServiceError("La double authentification est déjà activée pour ce compte.")
    if not user.totp_secret:
        raise ServiceError("Recommencez l'enrôlement : aucun secret en attente.")
    code = (code or "").strip().replace(" ", "")
    if not _DIGITS.match(code):
        raise ServiceError("Saisissez le code à 6 chiffres de votre application.", field="code")
    _count_attempt(user)
    step = _matching_step(user.totp_secret, code, time.time())
    if step is None or not _claim_step(user, step):
        raise ServiceError("Code incorrect : vérifiez l'heure de votre téléphone et réessayez.", field="code")
    throttle.reset(_throttle_key(user))
    user.totp_confirmed_at = utcnow()
    codes = _new_recovery_codes(user)
    audit.record(user, "user.second_factor_enrolled", user, organisation_id=user.organisation_id)
    return codes


def remaining_recovery_codes(user: User) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )


def reset(actor: User, user: User) -> None:
    """An admin removes a user's second factor (lost phone): enrol again at next sign-in.

    Every session of the user ends; the reset is audited.
    """
    from backoffice.services.users import end_sessions, require_admin

    require_admin(actor)
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    throttle.reset(_throttle_key(user))
    end_sessions(user)
    audit.record(actor, "user.second_factor_reset", user, organisation_id=user.organisation_id)


def set_demo_factor(user: User) -> None:
    """Give a demo user the documented demo secret, already confirmed (never in production)."""
    if current_app.config["APP_ENV"] == "production":
        raise ServiceError("Le secret de démonstration est refusé en production.")
    user.totp_secret = DEMO_TOTP_SECRET
    user.totp_confirmed_at = utcnow()
