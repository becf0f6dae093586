"""Users: invitations, sign-in with throttling, sessions, password rules."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import delete, func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from backoffice.extensions import db
from backoffice.models import LoginFailure, Organisation, Role, User
from backoffice.models.base import utcnow
from backoffice.services import PermissionDenied, ServiceError, audit, search, throttle
from backoffice.services.mail import send_email

MIN_PASSWORD_LENGTH = 12
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0–4 guessability score: 3 = "safely unguessable" for online attacks


def hash_password(password: str) -> str:
    """Salted hash; the method is a setting so that tests can use a cheap one."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_problem(password: str, email: str, names: tuple[str, ...] = ()) -> str | None:
    """Why a new password is refused, in French, or None if it is acceptable.

    At least 12 characters; not the user's email, name or first name (even inside it);
    and not common or guessable, as zxcvbn measures it (its dictionaries of common
    passwords, names and keyboard patterns, plus the user's own details).
    """
    from zxcvbn import zxcvbn

    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Le mot de passe doit contenir au moins {MIN_PASSWORD_LENGTH} caractères."
    lowered = password.strip().lower()
    local = email.split("@")[0].lower()
    if lowered == email.lower() or lowered == local:
        return "Le mot de passe ne doit pas être votre adresse e-mail."
    personal = [n.strip().lower() for n in (*names, local) if len(n.strip()) >= 3]
    if any(p in lowered for p in personal):
        return "Le mot de passe ne doit contenir ni votre nom, ni votre prénom, ni votre adresse e-mail."
    if zxcvbn(password[:100], user_inputs=[email, local, *names])["score"] < MIN_PASSWORD_SCORE:
        return "Ce mot de passe est trop courant ou trop facile à deviner : allongez-le avec des mots peu communs."
    return None


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
    retry_after: int = 0


def _locked_result(minutes: int, retry_after: int) -> SignInResult:
    return SignInResult(
        None,
        f"Trop de tentatives échouées : connexion bloquée pendant {minutes} minutes. Réessayez plus tard.",
        locked=True,
        retry_after=retry_after,
    )


def authenticate(email: str, password: str, ip: str) -> SignInResult:
    """Check credentials; after too many recent attempts for the account or the address, refuse.

    Each attempt is counted in Redis *before* the password is checked (one atomic INCR per
    key), so however many arrive at once, at most LOGIN_MAX_FAILURES of them are checked per
    window; a success gives its attempts back. The refusal is the same whether or not the
    account exists, so the page does not tell an attacker which emails are real. The caller
    commits; the sign-in itself ends with `complete_sign_in` (after the second factor).
    """
    email = (email or "").strip().lower()
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    minutes = current_app.config["LOGIN_LOCK_MINUTES"]
    by_email = throttle.hit(f"login:email:{email}", limit, minutes * 60)
    by_ip = throttle.hit(f"login:ip:{ip}", limit, minutes * 60)
    if not (by_email.allowed and by_ip.allowed):
        return _locked_result(minutes, max(by_email.retry_after, by_ip.retry_after))
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None:
        # Hash anyway, so that the response time does not tell which emails exist.
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password or "")
    if user is None or not check_password_hash(user.password_hash, password or "") or not user.is_active:
        db.session.add(LoginFailure(email=email, ip=ip))  # the record; the counting is in Redis
        if user is not None:
            audit.record(user, "auth.login_failed", user, ip=ip)
        if max(by_email.count, by_ip.count) >= limit:
            return _locked_result(minutes, max(by_email.retry_after, by_ip.retry_after))
        return SignInResult(None, "Adresse e-mail ou mot de passe incorrect.")
    throttle.reset(f"login:email:{email}")
    throttle.undo(f"login:ip:{ip}")
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    audit.record(user, "auth.password_accepted", user, ip=ip)
    return SignInResult(user)


def complete_sign_in(user: User, ip: str, second_factor: str | None) -> None:
    """The password (and the second factor, when there is one) are right: the user is in."""
    user.last_login_at = utcnow()
    audit.record(user, "auth.login", user, ip=ip, second_factor=second_factor or "none")


def end_sessions(user: User) -> None:
    """Every session of the user stops working at its next request (the cookie's id is stale)."""
    user.session_version = (user.session_version or 1) + 1


def sign_out(user: User, everywhere: bool = False) -> None:
    """Signing out ends this session and every other one of the user."""
    end_sessions(user)
    audit.record(user, "auth.logout_everywhere" if everywhere else "auth.logout", user)


def change_password(user: User, current: str, new: str) -> None:
    """The user's own change (forced after a temporary password)."""
    if not check_password_hash(user.password_hash, current or ""):
        raise ServiceError("Le mot de passe actuel est incorrect.", field="current")
    problem = password_problem(new, user.email, (user.first_name, user.last_name))
    if problem:
        raise ServiceError(problem, field="new")
    if check_password_hash(user.password_hash, new):
        raise ServiceError("Le nouveau mot de passe doit être différent de l'actuel.", field="new")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    end_sessions(user)  # the caller signs the current session in again
    audit.record(user, "user.password_changed", user)


INVITATION_HOURS = 72


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _send_invitation(user: User, reset: bool) -> str:
    """A single-use sign-in link (valid INVITATION_HOURS), emailed; only its hash is stored.

    It leads to choosing a password, then to enrolling the second factor: no password ever
    travels by email or shows on an admin's screen. Returns the link (for the caller's tests).
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    user.invitation_hash = _token_hash(token)
    user.invitation_expires_at = now + timedelta(hours=INVITATION_HOURS)
    user.invitation_sent_at = now
    link = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/invitation/{token}"
    subject = "Réinitialisation de votre accès au back-office" if reset else "Votre accès au back-office"
    body = (
        f"Bonjour {user.first_name},\n\n"
        + ("Votre mot de passe a été réinitialisé.\n" if reset else "Un compte a été créé pour vous.\n")
        + f"\nIdentifiant : {user.email}\n"
        f"Pour choisir votre mot de passe, ouvrez ce lien (valable {INVITATION_HOURS} heures, une seule fois) :\n"
        f"{link}\n\n"
        "Vous activerez ensuite la double authentification avec une application de votre téléphone.\n"
    )
    send_email(user.email, subject, body)
    return link


def _unusable_password() -> str:
    """Until the invitation is used, no password signs in."""
    return hash_password(secrets.token_urlsafe(32))


def user_for_invitation(token: str) -> User | None:
    """The user whose invitation link this is, while it is unused and not expired."""
    if not token or len(token) > 100:
        return None
    user = db.session.scalar(select(User).where(User.invitation_hash == _token_hash(token)))
    if user is None or user.invitation_expires_at is None or user.invitation_expires_at < utcnow():
        return None
    return user if user.is_active else None


def accept_invitation(user: User, password: str) -> None:
    """The invited user chooses a password; the link stops working (single use)."""
    problem = password_problem(password, user.email, (user.first_name, user.last_name))
    if problem:
        raise ServiceError(problem, field="new")
    user.password_hash = hash_password(password)
    user.must_change_password = False
    user.invitation_hash = None
    user.invitation_expires_at = None
    end_sessions(user)
    throttle.reset(f"login:email:{user.email}")
    audit.record(user, "user.invitation_accepted", user, organisation_id=user.organisation_id)


def resend_invitation(actor: User, user: User) -> str:
    """A new link replaces the previous one (which stops working)."""
    require_admin(actor)
    if not user.invitation_sent_at or user.invitation_hash is None:
        raise ServiceError("Cet utilisateur a déjà choisi son mot de passe : réinitialisez-le plutôt.")
    link = _send_invitation(user, reset=False)
    audit.record(actor, "user.invitation_sent", user, organisation_id=user.organisation_id)
    return link


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
    """Create a user and email them an invitation link; returns the user and the link."""
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
    user = User(
        email=email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        phone=(phone or "").strip() or None,
        role=role,
        is_admin=is_admin,
        organisation_id=organisation_id,
        password_hash=_unusable_password(),
        must_change_password=False,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        actor, "user.created", user, organisation_id=organisation_id, email=email, role=role, is_admin=is_admin
    )
    return user, _send_invitation(user, reset=False)


def reset_password(actor: User, user: User) -> str:
    """The old password stops working; the user gets a new invitation link to choose another."""
    require_admin(actor)
    user.password_hash = _unusable_password()
    end_sessions(user)
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == user.email))
    throttle.reset(f"login:email:{user.email}")
    link = _send_invitation(user, reset=True)
    audit.record(actor, "user.password_reset", user, organisation_id=user.organisation_id)
    return link


def set_active(actor: User, user: User, active: bool) -> None:
    require_admin(actor)
    if user.id == actor.id and not active:
        raise ServiceError("Vous ne pouvez pas désactiver votre propre compte.")
    user.active = active
    if not active:
        end_sessions(user)
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
        stmt = stmt.where(
            or_(
                search.matches(User.email, query),
                search.matches(User.last_name, query),
                search.matches(User.first_name, query),
            )
        )
    return stmt
