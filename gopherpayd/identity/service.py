"""Identity rules: sign-up, login, token rotation, sessions, passwords."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from gopherpayd.identity import passwords, repository, throttling, tokens, verification
from gopherpayd.identity.emails import check_email, email_skeleton, refuse_look_alikes
from gopherpayd.identity.emails import normalize_email as normalize_email  # re-exported: callers use service
from gopherpayd.identity.errors import (
    AccountFrozen,
    AlreadyVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidRefreshToken,
    LookAlikeEmail,
    RefreshTokenReused,
    SessionNotFound,
    SessionRevoked,
    TokenExpired,
)
from gopherpayd.identity.models import AuthSession, RefreshToken, User
from gopherpayd.identity.schemas import TokenPair, UserOut
from gopherpayd.identity.throttling import LoginAttempt
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.errors import AppError
from gopherpayd.kit.outcome import Outcome
from gopherpayd.kit.pagination import Cursor, split_page
from gopherpayd.outbox import service as outbox
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import EventType, Role


@dataclass(frozen=True)
class Caller:
    """Who an access token says is calling: its signature and expiry are verified, the
    session it names is not (yet). The money endpoint takes this and lets the writer's
    batch check the session (`transfers.movements.SessionGuard`)."""

    user_id: uuid.UUID
    session_id: uuid.UUID


@dataclass(frozen=True)
class Principal(Caller):
    """The authenticated caller of a request: the session is live and the account not frozen."""

    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


@dataclass(frozen=True)
class ClientInfo:
    address: str | None
    user_agent: str | None


@dataclass(frozen=True)
class PendingLogin:
    """What a login's first transaction found: the attempt it took and the hash to check."""

    attempt: LoginAttempt
    user_id: uuid.UUID | None
    password_hash: str | None


def hash_new_password(settings: Settings, password: str) -> str:
    """Check the password rules and hash it: bcrypt, to run outside any transaction."""
    return passwords.hash_password(password, settings.bcrypt_rounds)


def sign_up(
    session: Session, settings: Settings, email: str, full_name: str, password_hash: str, client: ClientInfo
) -> Outcome[User]:
    """A new account; a taken address is refused but still counted against the client's address."""
    throttling.count_signup(session, settings, client.address)
    try:
        return Outcome.ok(create_user(session, settings, email, full_name, "", password_hash=password_hash))
    except EmailTaken as error:
        return Outcome.refused(error)


def create_user(
    session: Session,
    settings: Settings,
    email: str,
    full_name: str,
    password: str,
    role: Role = Role.USER,
    *,
    password_hash: str | None = None,
) -> User:
    """A new account (`password_hash` when the caller already hashed `password`)."""
    email = check_email(email)
    refuse_look_alikes(email)
    skeleton = email_skeleton(email)
    # Two sign-ups of look-alikes at once: the second waits, then sees the first (Postgres).
    repository.lock_throttle_keys(session, [f"skeleton:{skeleton}"])
    if repository.get_user_by_email(session, email) is not None:
        raise EmailTaken(f"an account for {email} already exists; log in instead")
    if repository.get_user_by_skeleton(session, skeleton) is not None:
        raise LookAlikeEmail(
            "this address looks like the address of an existing account, so it could pass for it; "
            "choose another one"
        )
    user = User(
        email=email,
        email_skeleton=skeleton,
        full_name=full_name,
        password_hash=password_hash or passwords.hash_password(password, settings.bcrypt_rounds),
        role=role,
        # Operators are created by whoever runs the daemon: their address is vouched for.
        email_verified_at=utcnow() if role == Role.ADMIN else None,
    )
    repository.add(session, user)
    outbox.emit(session, EventType.USER_SIGNED_UP, user.id, {"full_name": full_name})
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


def session_refusal(found: repository.LiveSession | None, user_id: uuid.UUID) -> AppError | None:
    """Why this session cannot act for `user_id`, or None: for `authenticate` and for the
    money engine, which checks the sessions of a whole batch at once."""
    if found is None or found.user_id != user_id:
        return SessionRevoked("this session no longer exists; log in again")
    # Before the revocation: freezing revokes the sessions too, and the owner must hear why.
    if found.frozen:
        return AccountFrozen(f"account {found.email} is frozen; contact support")
    if found.revoked:
        return SessionRevoked("this session has been revoked; log in again")
    return None


def authenticate(session: Session, settings: Settings, access_token: str) -> Principal:
    """The caller behind an access token; refuses frozen accounts, revoked or expired sessions."""
    claims = tokens.decode_access_token(settings, access_token)
    found = repository.get_live_sessions(session, [claims.session_id]).get(claims.session_id)
    if (refusal := session_refusal(found, claims.user_id)) is not None:
        raise refusal
    assert found is not None
    return Principal(found.user_id, claims.session_id, found.email, found.role)


def begin_login(session: Session, settings: Settings, email: str, client: ClientInfo) -> PendingLogin:
    """A login's first, short transaction: take the attempt (or refuse, throttled), find the hash."""
    try:
        account = check_email(email)
    except InvalidEmail:
        # No account can have it: answer as for any unknown account, counted under a key
        # that fits the column whatever NFKC made of the address.
        account = throttling.invalid_account_key(normalize_email(email))
    attempt = throttling.take_login_attempt(session, settings, account, client.address)
    user = repository.get_user_by_email(session, account)
    return PendingLogin(attempt, user.id if user else None, user.password_hash if user else None)


def check_login_password(settings: Settings, pending: PendingLogin, password: str) -> None:
    """bcrypt, between the two transactions; an unknown email costs the same as a wrong password."""
    if pending.password_hash is None:
        passwords.burn_equal_time(password, settings.bcrypt_rounds)
        raise InvalidCredentials("email or password is wrong")
    if not passwords.verify_password(password, pending.password_hash):
        raise InvalidCredentials("email or password is wrong")


def finish_login(
    session: Session, settings: Settings, pending: PendingLogin, client: ClientInfo
) -> Outcome[TokenPair]:
    """A login's second transaction, after the password matched: forget the failures, open a session."""
    user = repository.get_user(session, pending.user_id) if pending.user_id else None
    if user is None or user.password_hash != pending.password_hash:
        # The password was changed while this one was being checked: it no longer counts.
        return Outcome.refused(InvalidCredentials("email or password is wrong"))
    throttling.login_succeeded(session, pending.attempt)
    if user.frozen:
        return Outcome.refused(AccountFrozen(f"account {user.email} is frozen; contact support"))
    now = utcnow()
    user_agent = (client.user_agent or "")[:300] or None
    # A first login (the one right after sign-up) is no news to anyone: no alert.
    if repository.has_any_session(session, user.id) and not repository.has_session_from(
        session, user.id, user_agent, client.address
    ):
        outbox.emit(
            session,
            EventType.USER_NEW_LOGIN,
            user.id,
            {"user_agent": client.user_agent, "client_ip": client.address, "at": now.isoformat()},
        )
    auth_session = AuthSession(
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl),
        user_agent=user_agent,
        client_ip=client.address,
    )
    repository.add(session, auth_session)
    return Outcome.ok(_issue_pair(session, settings, user, auth_session))


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
    if user.frozen:
        return Outcome.refused(AccountFrozen(f"account {user.email} is frozen; contact support"))
    if auth_session.revoked_at is not None:
        return Outcome.refused(SessionRevoked("this session has been revoked; log in again"))
    if stored.rotated_at is not None or not repository.mark_refresh_token_rotated(session, stored.id, now):
        repository.revoke_sessions(session, user.id, "refresh_token_reused", now, only=auth_session.id)
        return Outcome.refused(
            RefreshTokenReused("refresh token was already used; the session has been revoked")
        )
    if auth_session.expires_at <= now:
        return Outcome.refused(TokenExpired("session has expired; log in again"))
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


def begin_password_change(
    session: Session, settings: Settings, principal: Principal, new: str, client: ClientInfo
) -> PendingLogin:
    """A password change's first, short transaction: the current password is a login's secret,
    so checking it takes an attempt through the login throttle (or is refused, throttled)."""
    passwords.check_password_rules(new)  # a malformed new password costs no attempt
    attempt = throttling.take_login_attempt(session, settings, principal.email, client.address)
    user = get_user(session, principal.user_id)
    return PendingLogin(attempt, user.id, user.password_hash)


def check_current_password(pending: PendingLogin, current: str) -> None:
    """bcrypt, outside any transaction; a wrong password leaves its failure counted."""
    if pending.password_hash is None or not passwords.verify_password(current, pending.password_hash):
        raise InvalidCredentials("current password is wrong")


def finish_password_change(
    session: Session, pending: PendingLogin, new_hash: str, principal: Principal
) -> Outcome[None]:
    """The second transaction: store the new hash unless the password changed meanwhile."""
    user = get_user(session, principal.user_id)
    if user.password_hash != pending.password_hash:
        # Another change won while this one was in bcrypt: what was checked is no longer current.
        return Outcome.refused(InvalidCredentials("current password is wrong"))
    throttling.login_succeeded(session, pending.attempt)
    now = utcnow()
    user.password_hash = new_hash
    user.password_changed_at = now
    repository.update_user(session, user)
    repository.revoke_sessions(session, user.id, "password_changed", now, keep=principal.session_id)
    return Outcome.ok(None)


def list_sessions(
    session: Session, principal: Principal, cursor: str | None, limit: int
) -> tuple[list[AuthSession], str | None]:
    """One page of the caller's sessions, newest first, and the cursor after it."""
    after = Cursor.decode(cursor) if cursor else None
    return split_page(repository.page_sessions(session, principal.user_id, after, limit + 1), limit)


def revoke_session(session: Session, principal: Principal, session_id: uuid.UUID) -> None:
    found = repository.get_session_with_user(session, session_id)
    if found is None or found[1].id != principal.user_id:
        raise SessionNotFound(f"no session {session_id} for {principal.email}")
    repository.revoke_sessions(session, principal.user_id, "revoked_by_user", utcnow(), only=session_id)
