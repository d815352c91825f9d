"""Identity rules: sign-up, login, token rotation, sessions, passwords."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from gopherpayd.events import service as events
from gopherpayd.identity import passwords, repository, tokens, verification
from gopherpayd.identity.errors import (
    AccountFrozen,
    AlreadyVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    SessionNotFound,
    SessionRevoked,
    TokenExpired,
)
from gopherpayd.identity.models import AuthSession, LoginFailure, RefreshToken, User
from gopherpayd.identity.schemas import TokenPair, UserOut
from gopherpayd.kit.clock import as_utc, utcnow
from gopherpayd.kit.errors import TooManyAttempts
from gopherpayd.kit.outcome import Outcome
from gopherpayd.settings import Settings

ADMIN_ROLE = "admin"
USER_ROLE = "user"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE


@dataclass(frozen=True)
class ClientInfo:
    address: str | None
    user_agent: str | None


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    session: Session, settings: Settings, email: str, full_name: str, password: str, role: str = USER_ROLE
) -> User:
    email = normalize_email(email)
    if repository.get_user_by_email(session, email) is not None:
        raise EmailTaken(f"an account for {email} already exists; log in instead")
    user = User(
        email=email,
        full_name=full_name,
        password_hash=passwords.hash_password(password, settings.bcrypt_rounds),
        role=role,
        # Operators are created by whoever runs the daemon: their address is vouched for.
        email_verified_at=utcnow() if role == ADMIN_ROLE else None,
    )
    repository.add(session, user)
    events.emit(session, "user.signed_up", user.id, {"full_name": full_name})
    if user.email_verified_at is None:
        verification.send_code(session, settings, user)
    return user


def verify_email(session: Session, settings: Settings, principal: Principal, code: str) -> Outcome[User]:
    return verification.verify(session, settings, get_user(session, principal.user_id), code)


def resend_verification(session: Session, settings: Settings, principal: Principal) -> int:
    user = get_user(session, principal.user_id)
    if user.email_verified_at is not None:
        raise AlreadyVerified(f"{user.email} is already verified")
    return verification.send_code(session, settings, user)


def authenticate(session: Session, settings: Settings, access_token: str) -> Principal:
    """The caller behind an access token; refuses revoked, expired or frozen sessions."""
    claims = tokens.decode_access_token(settings, access_token)
    found = repository.get_session_with_user(session, claims.session_id)
    if found is None or found[1].id != claims.user_id:
        raise SessionRevoked("this session no longer exists; log in again")
    auth_session, user = found
    if auth_session.revoked_at is not None:
        raise SessionRevoked("this session has been revoked; log in again")
    if user.frozen:
        raise AccountFrozen(f"account {user.email} is frozen; contact support")
    return Principal(user.id, auth_session.id, user.email, user.role)


def login(
    session: Session, settings: Settings, email: str, password: str, client: ClientInfo
) -> Outcome[TokenPair]:
    email = normalize_email(email)
    now = utcnow()
    scopes = [f"account:{email}"] + ([f"address:{client.address}"] if client.address else [])
    _refuse_when_throttled(session, settings, scopes)
    user = repository.get_user_by_email(session, email)
    if user is None:
        passwords.burn_equal_time(password, settings.bcrypt_rounds)
    if user is None or not passwords.verify_password(password, user.password_hash):
        for scope in scopes:
            repository.add(session, LoginFailure(scope=scope, created_at=now))
        return Outcome.refused(InvalidCredentials("email or password is wrong"))
    if user.frozen:
        return Outcome.refused(AccountFrozen(f"account {email} is frozen; contact support"))
    repository.clear_failures(session, scopes[0])
    if not repository.has_session_from(session, user.id, client.user_agent, client.address):
        events.emit(
            session,
            "user.new_login",
            user.id,
            {"user_agent": client.user_agent, "client_ip": client.address, "at": now.isoformat()},
        )
    auth_session = AuthSession(
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl),
        user_agent=(client.user_agent or "")[:300] or None,
        client_ip=client.address,
    )
    repository.add(session, auth_session)
    return Outcome.ok(_issue_pair(session, settings, user, auth_session))


def _refuse_when_throttled(session: Session, settings: Settings, scopes: list[str]) -> None:
    window = timedelta(seconds=settings.login_failure_window)
    now = utcnow()
    for scope in scopes:
        limit = (
            settings.login_max_failures_per_account
            if scope.startswith("account:")
            else settings.login_max_failures_per_address
        )
        failures = repository.failures_since(session, scope, now - window)
        if len(failures) >= limit:
            oldest_counted = as_utc(failures[-limit])
            retry_after = math.ceil((oldest_counted + window - now).total_seconds())
            raise TooManyAttempts(
                "too many failed logins; wait before trying again",
                retry_after=max(retry_after, 1),
            )


def _issue_pair(session: Session, settings: Settings, user: User, auth_session: AuthSession) -> TokenPair:
    refresh_token, token_hash = tokens.new_refresh_token()
    repository.add(session, RefreshToken(session_id=auth_session.id, token_hash=token_hash))
    return TokenPair(
        access_token=tokens.issue_access_token(settings, user.id, auth_session.id, user.role),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl,
        session_id=auth_session.id,
        user=UserOut.of(user),
    )


def refresh(session: Session, settings: Settings, refresh_token: str) -> Outcome[TokenPair]:
    """Rotate a refresh token. Presenting a spent one revokes its whole family (RFC 9700)."""
    now = utcnow()
    stored = repository.get_refresh_token(session, tokens.hash_refresh_token(refresh_token))
    if stored is None:
        return Outcome.refused(InvalidRefreshToken("refresh token is not valid; log in again"))
    found = repository.get_session_with_user(session, stored.session_id)
    assert found is not None  # foreign key
    auth_session, user = found
    if auth_session.revoked_at is not None:
        return Outcome.refused(SessionRevoked("this session has been revoked; log in again"))
    if stored.rotated_at is not None or not repository.mark_refresh_token_rotated(session, stored.id, now):
        repository.revoke_sessions(session, user.id, "refresh_token_reused", now, only=auth_session.id)
        return Outcome.refused(
            RefreshTokenReused("refresh token was already used; the session has been revoked")
        )
    if as_utc(auth_session.expires_at) <= now:
        return Outcome.refused(TokenExpired("session has expired; log in again"))
    if user.frozen:
        return Outcome.refused(AccountFrozen(f"account {user.email} is frozen; contact support"))
    repository.touch_session(
        session, auth_session.id, now, now + timedelta(seconds=settings.refresh_token_ttl)
    )
    return Outcome.ok(_issue_pair(session, settings, user, auth_session))


def logout(session: Session, principal: Principal) -> None:
    repository.revoke_sessions(session, principal.user_id, "logout", utcnow(), only=principal.session_id)


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = repository.get_user(session, user_id)
    assert user is not None  # authenticated callers exist
    return user


def change_password(
    session: Session, settings: Settings, principal: Principal, current: str, new: str
) -> Outcome[None]:
    user = get_user(session, principal.user_id)
    if not passwords.verify_password(current, user.password_hash):
        return Outcome.refused(InvalidCredentials("current password is wrong"))
    now = utcnow()
    user.password_hash = passwords.hash_password(new, settings.bcrypt_rounds)
    user.password_changed_at = now
    repository.update_user(session, user)
    repository.revoke_sessions(session, user.id, "password_changed", now, keep=principal.session_id)
    return Outcome.ok(None)


def list_sessions(session: Session, principal: Principal) -> list[AuthSession]:
    return repository.list_sessions(session, principal.user_id)


def revoke_session(session: Session, principal: Principal, session_id: uuid.UUID) -> None:
    found = repository.get_session_with_user(session, session_id)
    if found is None or found[1].id != principal.user_id:
        raise SessionNotFound(f"no session {session_id} for {principal.email}")
    repository.revoke_sessions(session, principal.user_id, "revoked_by_user", utcnow(), only=session_id)
