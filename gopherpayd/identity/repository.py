"""SQL for users, sessions, refresh tokens, failed logins and API tokens."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy
from sqlalchemy import delete, func, or_, text, update
from sqlmodel import Session, col, select

from gopherpayd.identity.models import ApiToken, AuthSession, LoginFailure, RefreshToken, SignupAttempt, User
from gopherpayd.identity.session_cache import note_auth_change
from gopherpayd.kit.models import table_of
from gopherpayd.kit.pagination import Cursor, newest_first


def get_user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email)).first()


def get_user_by_skeleton(session: Session, skeleton: str) -> User | None:
    return session.exec(select(User).where(User.email_skeleton == skeleton)).first()


def session_addresses(session: Session, email: str) -> list[str]:
    """Every client address the account with this email has logged in from (any session, ever)."""
    query = (
        select(AuthSession.client_ip)
        .join(User, col(User.id) == AuthSession.user_id)
        .where(User.email == email, col(AuthSession.client_ip).is_not(None))
        .distinct()
    )
    return [address for address in session.exec(query).all() if address is not None]


def add(session: Session, row: User | AuthSession | RefreshToken | LoginFailure | SignupAttempt) -> None:
    session.add(row)
    session.flush()


def search_users(session: Session, text: str | None, after: Cursor | None, limit: int) -> list[User]:
    query = select(User)
    if text:
        pattern = f"%{text.lower()}%"
        query = query.where(or_(col(User.email).like(pattern), func.lower(col(User.full_name)).like(pattern)))
    query = newest_first(query, col(User.created_at), col(User.id), after)
    return list(session.exec(query.limit(limit)).all())


def get_session_with_user(session: Session, session_id: uuid.UUID) -> tuple[AuthSession, User] | None:
    query = select(AuthSession, User).join(User, col(User.id) == AuthSession.user_id)
    row = session.exec(query.where(AuthSession.id == session_id)).first()
    return (row[0], row[1]) if row else None


class LiveSession(NamedTuple):
    user_id: uuid.UUID
    email: str
    role: str
    revoked: bool
    frozen: bool
    """The user's account is frozen."""


def get_live_sessions(session: Session, session_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, LiveSession]:
    """Each of these sessions that exists, with its user's email and frozen flag, in one query."""
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    sessions, users = table_of(AuthSession).c, table_of(User).c
    query = (
        sqlalchemy.select(
            sessions.id, sessions.user_id, users.email, users.role, sessions.revoked_at, users.frozen
        )
        .join_from(table_of(AuthSession), table_of(User), users.id == sessions.user_id)
        .where(sessions.id.in_(ids))
    )
    return {
        row.id: LiveSession(row.user_id, row.email, row.role, row.revoked_at is not None, bool(row.frozen))
        for row in session.execute(query).all()
    }


def page_sessions(
    session: Session, user_id: uuid.UUID, after: Cursor | None, limit: int
) -> list[AuthSession]:
    """Up to `limit` of the user's sessions (revoked ones too), newest first, after `after`."""
    query = select(AuthSession).where(AuthSession.user_id == user_id)
    query = newest_first(query, col(AuthSession.created_at), col(AuthSession.id), after)
    return list(session.exec(query.limit(limit)).all())


def has_session_from(
    session: Session, user_id: uuid.UUID, user_agent: str | None, client_ip: str | None
) -> bool:
    query = select(AuthSession.id).where(
        AuthSession.user_id == user_id,
        AuthSession.user_agent == user_agent,
        AuthSession.client_ip == client_ip,
    )
    return session.exec(query.limit(1)).first() is not None


def revoke_sessions(
    session: Session,
    user_id: uuid.UUID,
    reason: str,
    now: datetime,
    *,
    only: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> int:
    statement = update(AuthSession).where(
        col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None)
    )
    if only is not None:
        statement = statement.where(col(AuthSession.id) == only)
    if keep is not None:
        statement = statement.where(col(AuthSession.id) != keep)
    result = session.exec(statement.values(revoked_at=now, revoked_reason=reason))
    note_auth_change(session)
    return int(result.rowcount)


def get_refresh_token(session: Session, token_hash: str) -> RefreshToken | None:
    return session.exec(select(RefreshToken).where(RefreshToken.token_hash == token_hash)).first()


def mark_refresh_token_rotated(session: Session, token_id: uuid.UUID, now: datetime) -> bool:
    """Spend the token; False when someone else already spent it (a race or a replay)."""
    statement = (
        update(RefreshToken)
        .where(col(RefreshToken.id) == token_id, col(RefreshToken.rotated_at).is_(None))
        .values(rotated_at=now)
    )
    return bool(session.exec(statement).rowcount)


def touch_session(session: Session, session_id: uuid.UUID, now: datetime, expires_at: datetime) -> None:
    statement = update(AuthSession).where(col(AuthSession.id) == session_id)
    session.exec(statement.values(last_used_at=now, expires_at=expires_at))


def lock_throttle_keys(session: Session, keys: list[str]) -> None:
    """Serialise attempts on the same account or address until the transaction ends.

    Postgres: transaction-scoped advisory locks, taken in one order so two attempts
    never deadlock. SQLite: every transaction already holds the write lock (BEGIN
    IMMEDIATE), so attempts are serialised anyway.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({_advisory_key(key) for key in keys}):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _advisory_key(key: str) -> int:
    digest = hashlib.sha256(f"gopherpay-throttle:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def failures_since(
    session: Session, since: datetime, *, account: str | None = None, address: str | None = None
) -> list[datetime]:
    """When each failed login for this account and/or from this address happened, oldest first."""
    query = select(LoginFailure.created_at).where(col(LoginFailure.created_at) >= since)
    if account is not None:
        query = query.where(LoginFailure.account == account)
    if address is not None:
        query = query.where(LoginFailure.address == address)
    return list(session.exec(query.order_by(col(LoginFailure.created_at))).all())


def delete_failure(session: Session, failure_id: uuid.UUID) -> None:
    session.exec(delete(LoginFailure).where(col(LoginFailure.id) == failure_id))


def clear_failures(session: Session, account: str, address: str) -> None:
    """Forget this account's failures from this address (the owner got in from here)."""
    session.exec(
        delete(LoginFailure).where(col(LoginFailure.account) == account, col(LoginFailure.address) == address)
    )


def signups_since(session: Session, address: str, since: datetime) -> list[datetime]:
    query = select(SignupAttempt.created_at).where(
        SignupAttempt.address == address, col(SignupAttempt.created_at) >= since
    )
    return list(session.exec(query.order_by(col(SignupAttempt.created_at))).all())


def has_any_session(session: Session, user_id: uuid.UUID) -> bool:
    query = select(AuthSession.id).where(AuthSession.user_id == user_id)
    return session.exec(query.limit(1)).first() is not None


def update_user(session: Session, user: User) -> None:
    note_auth_change(session)  # a role, a freeze or a password: cached principals must go
    session.add(user)
    session.flush()


def lock_users_frozen(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
    """Lock users in ascending id order (one statement) and read whether each is frozen now.

    FOR NO KEY UPDATE on Postgres: a freeze (an UPDATE of the row) waits for it and it for
    the freeze, but a transaction that only references the user by foreign key (a session,
    an inbox entry) neither waits nor is waited for."""
    if not user_ids:
        return {}
    users = table_of(User).c
    query = (
        select(users.id, users.frozen)
        .where(users.id.in_(sorted(set(user_ids))))
        .order_by(users.id)
        .with_for_update(key_share=True)
    )
    return {row.id: bool(row.frozen) for row in session.execute(query).all()}


def get_api_token_with_user(session: Session, token_hash: str) -> tuple[ApiToken, User] | None:
    query = select(ApiToken, User).join(User, col(User.id) == ApiToken.user_id)
    found = session.exec(query.where(ApiToken.token_hash == token_hash)).first()
    return (found[0], found[1]) if found is not None else None


def get_api_token(session: Session, token_id: uuid.UUID) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def add_api_token(session: Session, row: ApiToken) -> None:
    session.add(row)
    session.flush()


def page_api_tokens(session: Session, user_id: uuid.UUID, after: Cursor | None, limit: int) -> list[ApiToken]:
    """Up to `limit` of the user's API tokens (revoked ones too), newest first, after `after`."""
    query = select(ApiToken).where(ApiToken.user_id == user_id)
    query = newest_first(query, col(ApiToken.created_at), col(ApiToken.id), after)
    return list(session.exec(query.limit(limit)).all())


def count_live_api_tokens(session: Session, user_id: uuid.UUID, now: datetime) -> int:
    query = (
        select(func.count())
        .select_from(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            col(ApiToken.revoked_at).is_(None),
            or_(col(ApiToken.expires_at).is_(None), col(ApiToken.expires_at) > now),
        )
    )
    return int(session.exec(query).one())


def touch_api_token(session: Session, token_id: uuid.UUID, now: datetime) -> None:
    """Record the token's use, at most once a minute, so a busy script writes little."""
    session.execute(
        update(ApiToken)
        .where(
            col(ApiToken.id) == token_id,
            or_(
                col(ApiToken.last_used_at).is_(None), col(ApiToken.last_used_at) < now - timedelta(minutes=1)
            ),
        )
        .values(last_used_at=now)
    )
