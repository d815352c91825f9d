"""Long-lived, scoped, revocable API tokens for scripts and CI.

A token is `gpt_` and 43 URL-safe random characters (256 bits). Only its SHA-256 is
stored; the token is in the answer that creates it and nowhere else (no log, no list,
no event). A request that carries one is checked here, against the database on every
request, so a revocation (or the owner's account being frozen) takes effect at once,
on every daemon process. Scopes:

- `read`: GET (and HEAD) requests only; it can never move money or change anything.
- `transfer`: what its owner may do over the API, except managing API tokens (a leaked
  token cannot mint itself successors, nor list or revoke the owner's others).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from gopherpayd.identity import repository
from gopherpayd.identity.errors import AccountFrozen
from gopherpayd.identity.models import ApiToken
from gopherpayd.identity.service import Principal
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.errors import Forbidden, NotFound, Unauthorized
from gopherpayd.kit.pagination import Cursor, split_page
from gopherpayd.vocabulary import TokenScope

TOKEN_PREFIX = "gpt_"
PREFIX_SHOWN = 12
"""Characters of the token that lists show, to tell tokens apart: `gpt_` and 8 more."""
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TOKENS_PER_USER = 100
MAX_LIFETIME_DAYS = 3650


class ApiTokenInvalid(Unauthorized):
    code, title = "api_token_invalid", "Invalid API token"


class ApiTokenExpired(Unauthorized):
    code, title = "api_token_expired", "API token expired"


class ApiTokenRevoked(Unauthorized):
    code, title = "api_token_revoked", "API token revoked"


class InsufficientScope(Forbidden):
    code, title = "insufficient_scope", "Insufficient scope"


class LoginRequired(Forbidden):
    code, title = "login_required", "Login required"


class ApiTokenNotFound(NotFound):
    code, title = "api_token_not_found", "API token not found"


class TooManyApiTokens(Forbidden):
    code, title = "too_many_api_tokens", "Too many API tokens"


@dataclass(frozen=True)
class CreatedToken:
    row: ApiToken
    token: str
    """The token in clear: answered once, never stored."""


def looks_like_api_token(bearer: str) -> bool:
    """An API token, not an access token (a JWT never starts with `gpt_`)."""
    return bearer.startswith(TOKEN_PREFIX)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(session: Session, token: str, method: str) -> Principal:
    """The owner behind an API token, for a request with this HTTP method; refuses a token
    unknown, revoked or expired, a frozen owner, and a read token on anything but a read.

    The Principal's session id is the token's id: there is no login session behind it.
    """
    found = repository.get_api_token_with_user(session, token_hash(token))
    if found is None:
        raise ApiTokenInvalid("this API token is not valid; create one with: gopherpay tokens create")
    row, user = found
    now = utcnow()
    if row.revoked_at is not None:
        raise ApiTokenRevoked(f"API token {row.name!r} ({row.prefix}…) has been revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise ApiTokenExpired(
            f"API token {row.name!r} ({row.prefix}…) expired at {row.expires_at.isoformat()}"
        )
    if user.frozen:
        raise AccountFrozen(f"account {user.email} is frozen; contact support")
    if row.scope == TokenScope.READ and method.upper() not in READ_METHODS:
        raise InsufficientScope(
            f"API token {row.name!r} has the read scope: it can only read, not {method.upper()}"
        )
    repository.touch_api_token(session, row.id, now)
    return Principal(user.id, row.id, user.email, user.role)


def refuse_api_token(principal_is_token: bool, action: str) -> None:
    """Some things need a login, not an API token: managing tokens, the password."""
    if principal_is_token:
        raise LoginRequired(f"{action} needs a login (gopherpay login), not an API token")


def create(
    session: Session, principal: Principal, name: str, scope: TokenScope, expires_in_days: int | None
) -> CreatedToken:
    if repository.count_live_api_tokens(session, principal.user_id, utcnow()) >= MAX_TOKENS_PER_USER:
        raise TooManyApiTokens(f"you have {MAX_TOKENS_PER_USER} live API tokens already; revoke one first")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=principal.user_id,
        name=name,
        scope=scope.value,
        token_hash=token_hash(token),
        prefix=token[:PREFIX_SHOWN],
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    repository.add_api_token(session, row)
    return CreatedToken(row, token)


def list_tokens(
    session: Session, principal: Principal, cursor: str | None, limit: int
) -> tuple[list[ApiToken], str | None]:
    """One page of the caller's API tokens, newest first, and the cursor after it."""
    after = Cursor.decode(cursor) if cursor else None
    return split_page(repository.page_api_tokens(session, principal.user_id, after, limit + 1), limit)


def revoke(session: Session, principal: Principal, token_id: uuid.UUID) -> ApiToken:
    """Revoke one of the caller's tokens (revoking it again changes nothing)."""
    row = repository.get_api_token(session, token_id)
    if row is None or row.user_id != principal.user_id:
        raise ApiTokenNotFound(f"you have no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        repository.add_api_token(session, row)
    return row


def expired(row: ApiToken, now: datetime) -> bool:
    return row.expires_at is not None and row.expires_at <= now
