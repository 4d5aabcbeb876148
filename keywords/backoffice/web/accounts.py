"""Staff accounts and sign-in: argon2id password hashes, server-side sessions, lockout.

The browser's cookie holds a random token signed with the session secret; the store keeps
only the token's sha256, so a stolen database cannot be replayed as a cookie, signing out
ends the session everywhere it is used, and disabling a user ends all of theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.errors import BusinessError
from backoffice.web.audit import record
from backoffice.web.models import ROLES, StaffSession, StaffUser

#: Shortest password accepted for a staff account.
MIN_PASSWORD_LENGTH = 12
#: Failed sign-ins in a row before the account is locked for ``LOCKOUT``.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)

_hasher = PasswordHasher()
# Verified when the user name is unknown, so both cases cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(BusinessError):
    """A staff account cannot be created or changed as asked (bad name, role, password)."""


@dataclass(frozen=True)
class Staff:
    """The signed-in person as the web app sees them on each request."""

    id: int
    username: str
    display_name: str
    role: str
    csrf_token: str

    def may(self, role: str) -> bool:
        """Whether this person has ``role`` or a more trusted one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (refusing one shorter than the minimum)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters",
            code="PASSWORD_TOO_SHORT",
        )
    return _hasher.hash(password)


def add_user(
    session: Session, username: str, role: str, password: str, *, display_name: str = "", actor: str
) -> StaffUser:
    """Create a staff account (audited); the name is kept as typed, compared lower-case."""
    name = username.strip().lower()
    if not name or len(name) > 150 or any(ch.isspace() for ch in name):
        raise AccountError("a user name is 1-150 characters without spaces", code="BAD_USERNAME")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}", code="BAD_ROLE")
    if session.scalar(select(StaffUser.id).where(StaffUser.username == name)) is not None:
        raise AccountError(f"user {name} exists already", code="USER_EXISTS")
    user = StaffUser(
        username=name,
        display_name=display_name.strip() or name,
        role=role,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    record(
        session,
        actor=actor,
        action="user.add",
        subject_type="staff_user",
        subject_ref=name,
        after={"role": role, "active": True},
    )
    return user


def set_active(session: Session, user_id: int, active: bool, *, actor: str) -> StaffUser:
    """Enable or disable an account; disabling ends its sessions at once."""
    user = session.get(StaffUser, user_id, with_for_update=True)
    if user is None:
        raise AccountError("no such user", code="NO_SUCH_USER")
    if user.active != active:
        record(
            session,
            actor=actor,
            action="user.enable" if active else "user.disable",
            subject_type="staff_user",
            subject_ref=user.username,
            before={"active": user.active},
            after={"active": active},
        )
        user.active = active
    if not active:
        session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The active user with this name and password, or None; counts failures and locks."""
    now = utcnow()
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None or not user.active:
        _verify(_DUMMY_HASH, password)
        return None
    if user.locked_until is not None and user.locked_until > now:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            record(
                session,
                actor="web",
                action="user.locked",
                subject_type="staff_user",
                subject_ref=user.username,
                after={"locked_until": user.locked_until.isoformat()},
            )
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: StaffUser, lifetime: timedelta) -> str:
    """Open a session for ``user``; returns the token for the cookie (shown only once)."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_sha256=_digest(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + lifetime,
            last_seen_at=now,
        )
    )
    # Expired sessions of anyone are swept on each sign-in; no timer needed.
    session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    return token


def session_staff(session: Session, token: str) -> Staff | None:
    """The staff member a session token belongs to, if the session is live and they active."""
    now = utcnow()
    row = session.execute(
        select(StaffSession, StaffUser)
        .join(StaffUser, StaffUser.id == StaffSession.user_id)
        .where(StaffSession.token_sha256 == _digest(token))
    ).first()
    if row is None:
        return None
    live, user = row
    if live.expires_at <= now or not user.active:
        return None
    if now - live.last_seen_at > timedelta(minutes=1):
        live.last_seen_at = now
    return Staff(user.id, user.username, user.display_name, user.role, live.csrf_token)


def end_session(session: Session, token: str) -> None:
    """Sign out: the session's row is deleted, so the cookie is worthless everywhere."""
    session.execute(delete(StaffSession).where(StaffSession.token_sha256 == _digest(token)))


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a CSRF token."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def users(session: Session) -> list[StaffUser]:
    """Every staff account, by name."""
    return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))
