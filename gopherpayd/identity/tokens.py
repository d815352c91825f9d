"""Access tokens (JWT, HS256, algorithm pinned) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt

from gopherpayd.identity.errors import InvalidToken, TokenExpired
from gopherpayd.kit.clock import utcnow
from gopherpayd.settings import Settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "sid"]


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str


def issue_access_token(settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID, role: str) -> str:
    now = utcnow()
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.signing_key, algorithm=ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            settings.signing_key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
            leeway=5,
        )
        return AccessClaims(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), str(claims["role"]))
    except jwt.ExpiredSignatureError as error:
        raise TokenExpired("access token has expired; refresh it or log in again") from error
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError) as error:
        raise InvalidToken("access token is not valid") from error


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the SHA-256 under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
