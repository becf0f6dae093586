"""Users: creation with a temporary password, sign-in with throttling, password rules."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import delete, func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from backoffice.extensions import db
from backoffice.models import LoginFailure, Organisation, Role, User
from backoffice.models.base import utcnow
from backoffice.services import PermissionDenied, ServiceError, audit
from backoffice.services.mail import send_email

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """Salted hash; the method is a setting so that tests can use a cheap one."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_problem(password: str, email: str) -> str | None:
    """Why a new password is refused, in French, or None if it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Le mot de passe doit contenir au moins {MIN_PASSWORD_LENGTH} caractères."
    lowered = password.strip().lower()
    if lowered == email.lower() or lowered == email.split("@")[0].lower():
        return "Le mot de passe ne doit pas être votre adresse e-mail."
    return None


def generate_temporary_password() -> str:
    """A random 14-character password with letters, digits and a symbol."""
    alphabet = string.ascii_letters + string.digits
    core = "".join(secrets.choice(alphabet) for _ in range(12))
    return core[:6] + secrets.choice("-_!#") + secrets.choice(string.digits) + core[6:]


def require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Action réservée aux administrateurs.")


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


@dataclass
class SignInResult:
    user: User | None
    error: str | None = None
    locked: bool = False


def _recent_failures(email: str, ip: str) -> tuple[int, int]:
    since = utcnow() - timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    by_email = db.session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.email == email, LoginFailure.created_at >= since)
    )
    by_ip = db.session.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.ip == ip, LoginFailure.created_at >= since)
    )
    return by_email or 0, by_ip or 0


def authenticate(email: str, password: str, ip: str) -> SignInResult:
    """Check credentials; after too many recent failures for the account or the address, refuse.

    The refusal is the same whether or not the account exists, so the page does not tell
    an attacker which emails are real. The caller commits.
    """
    email = (email or "").strip().lower()
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    minutes = current_app.config["LOGIN_LOCK_MINUTES"]
    by_email, by_ip = _recent_failures(email, ip)
    if by_email >= limit or by_ip >= limit:
        return SignInResult(
            None,
            f"Trop de tentatives échouées : connexion bloquée pendant {minutes} minutes. Réessayez plus tard.",
            locked=True,
        )
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None:
        # Hash anyway, so that the response time does not tell which emails exist.
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password or "")
    if user is None or not check_password_hash(user.password_hash, password or "") or not user.is_active:
        db.session.add(LoginFailure(email=email, ip=ip))
        if user is not None:
            audit.record(user, "auth.login_failed", user, ip=ip)
        remaining = limit - max(by_email, by_ip) - 1
        if remaining <= 0:
            return SignInResult(
                None,
                f"Trop de tentatives échouées : connexion bloquée pendant {minutes} minutes.",
                locked=True,
            )
        return SignInResult(None, "Adresse e-mail ou mot de passe incorrect.")
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    user.last_login_at = utcnow()
    audit.record(user, "auth.login", user, ip=ip)
    return SignInResult(user)


def change_password(user: User, current: str, new: str) -> None:
    """The user's own change (forced after a temporary password)."""
    if not check_password_hash(user.password_hash, current or ""):
        raise ServiceError("Le mot de passe actuel est incorrect.", field="current")
    problem = password_problem(new, user.email)
    if problem:
        raise ServiceError(problem, field="new")
    if check_password_hash(user.password_hash, new):
        raise ServiceError("Le nouveau mot de passe doit être différent de l'actuel.", field="new")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    audit.record(user, "user.password_changed", user)


def _welcome_email(user: User, password: str, reset: bool) -> None:
    url = current_app.config["PUBLIC_URL"]
    subject = "Réinitialisation de votre mot de passe" if reset else "Votre accès au back-office"
    body = (
        f"Bonjour {user.first_name},\n\n"
        + ("Votre mot de passe a été réinitialisé.\n" if reset else "Un compte a été créé pour vous.\n")
        + f"\nAdresse : {url}\nIdentifiant : {user.email}\nMot de passe temporaire : {password}\n\n"
        "Vous devrez choisir un nouveau mot de passe à la première connexion.\n"
    )
    send_email(user.email, subject, body)


def create_user(
    actor: User,
    *,
    email: str,
    first_name: str,
    last_name: str,
    phone: str | None,
    role: str,
    organisation_id: int | None,
    is_admin: bool = False,
) -> tuple[User, str]:
    """Create a user with a temporary password, emailed to them; returns the password once."""
    require_admin(actor)
    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email)):
        raise ServiceError("Un utilisateur existe déjà avec cette adresse e-mail.", field="email")
    if role not in Role.__members__:
        raise ServiceError("Rôle inconnu.", field="role")
    if not is_admin and organisation_id is None:
        raise ServiceError("Un gestionnaire ou un superviseur appartient à une organisation.", field="organisation_id")
    if organisation_id is not None and db.session.get(Organisation, organisation_id) is None:
        raise ServiceError("Organisation inconnue.", field="organisation_id")
    password = generate_temporary_password()
    user = User(
        email=email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        phone=(phone or "").strip() or None,
        role=role,
        is_admin=is_admin,
        organisation_id=organisation_id,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        actor, "user.created", user, organisation_id=organisation_id, email=email, role=role, is_admin=is_admin
    )
    _welcome_email(user, password, reset=False)
    return user, password


def reset_password(actor: User, user: User) -> str:
    """Give a user a new temporary password (emailed) and force a change at next sign-in."""
    require_admin(actor)
    password = generate_temporary_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == user.email))
    audit.record(actor, "user.password_reset", user, organisation_id=user.organisation_id)
    _welcome_email(user, password, reset=True)
    return password


def set_active(actor: User, user: User, active: bool) -> None:
    require_admin(actor)
    if user.id == actor.id and not active:
        raise ServiceError("Vous ne pouvez pas désactiver votre propre compte.")
    user.active = active
    audit.record(actor, "user.activated" if active else "user.deactivated", user, organisation_id=user.organisation_id)


def change_role(actor: User, user: User, role: str) -> None:
    require_admin(actor)
    if role not in Role.__members__:
        raise ServiceError("Rôle inconnu.", field="role")
    old = user.role
    user.role = role
    audit.record(actor, "user.role_changed", user, organisation_id=user.organisation_id, old=old, new=role)


def search_users(query: str | None, organisation_id: int | None):
    """The statement behind the admin's user list (API clients' technical users are managed on *Clients API*)."""
    from backoffice.services.api_clients import TECHNICAL_EMAIL_DOMAIN

    stmt = select(User).where(~User.email.endswith(f"@{TECHNICAL_EMAIL_DOMAIN}")).order_by(User.last_name, User.first_name)
    if organisation_id:
        stmt = stmt.where(User.organisation_id == organisation_id)
    if query:
        like = f"%{query.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(User.email).like(like), func.lower(User.last_name).like(like)))
    return stmt
