"""Tables: users, sessions (refresh-token families), refresh tokens, failed logins, sign-ups,
API tokens."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index
from sqlmodel import Field, SQLModel

from gopherpayd.kit.models import fk_field, id_field, timestamp_field
from gopherpayd.vocabulary import Role, TokenScope, one_of


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="ck_users_role"),)

    id: uuid.UUID = id_field()
    email: str = Field(max_length=254, unique=True, index=True)
    """Lower-cased at the edge; the unique login name."""
    email_skeleton: str = Field(max_length=254, index=True)
    """The email with look-alike characters replaced by what they pass for (emails.email_skeleton):
    a new address whose skeleton an account already has is refused."""
    full_name: str = Field(max_length=200)
    password_hash: str = Field(max_length=100)
    role: str = Field(default=Role.USER, max_length=10)
    frozen: bool = Field(default=False)
    created_at: datetime = timestamp_field()
    password_changed_at: datetime = timestamp_field()
    email_verified_at: datetime | None = timestamp_field(nullable=True)
    event_seq: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    """The number of the last event written for this user: the stream's gap-free cursor."""


class AuthSession(SQLModel, table=True):
    """One login: the family of refresh tokens that descend from it."""

    __tablename__ = "sessions"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = fk_field("users.id", index=True)
    created_at: datetime = timestamp_field()
    last_used_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    revoked_at: datetime | None = timestamp_field(nullable=True)
    revoked_reason: str | None = Field(default=None, max_length=50)
    user_agent: str | None = Field(default=None, max_length=300)
    client_ip: str | None = Field(default=None, max_length=64)


class RefreshToken(SQLModel, table=True):
    """A refresh token, kept only as its SHA-256; spent once it has been rotated."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = id_field()
    session_id: uuid.UUID = fk_field("sessions.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = timestamp_field()
    rotated_at: datetime | None = timestamp_field(nullable=True)


class LoginFailure(SQLModel, table=True):
    """A failed login (or one being checked right now), counted for throttling.

    Counted per account and address (backoff), per address and per account; a
    successful login deletes the failures of its own account and address only.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account_created", "account", "created_at"),
        Index("ix_login_failures_address_created", "address", "created_at"),
    )

    id: uuid.UUID = id_field()
    account: str = Field(max_length=254)
    """The normalised email that was tried, whether or not such an account exists."""
    address: str = Field(max_length=64)
    """The client address the try came from (`unknown` when the server could not tell)."""
    created_at: datetime = timestamp_field()


class SignupAttempt(SQLModel, table=True):
    """A sign-up (made, or refused because the address is taken), counted per client address."""

    __tablename__ = "signup_attempts"
    __table_args__ = (Index("ix_signup_attempts_address_created", "address", "created_at"),)

    id: uuid.UUID = id_field()
    address: str = Field(max_length=64)
    created_at: datetime = timestamp_field()


class EmailVerification(SQLModel, table=True):
    """A single-use code sent to prove the user owns their email address."""

    __tablename__ = "email_verifications"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = fk_field("users.id", index=True)
    code_hash: str = Field(max_length=64)
    """HMAC-SHA256 of the code under the daemon's secret; the code itself is never stored."""
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    used_at: datetime | None = timestamp_field(nullable=True)
    failed_attempts: int = Field(default=0)


class ApiToken(SQLModel, table=True):
    """A long-lived, scoped, revocable token for scripts and CI, kept only as its SHA-256.

    The token itself (`gpt_` and 43 random URL-safe characters, 256 bits) is shown once,
    when it is created; `prefix` (its first 12 characters) is what lists show.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(one_of("scope", TokenScope), name="ck_api_tokens_scope"),)

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = fk_field("users.id", index=True)
    name: str = Field(max_length=100)
    scope: str = Field(max_length=10)
    token_hash: str = Field(max_length=64, unique=True)
    """Hex SHA-256 of the whole token: enough for 256 random bits, and one indexed lookup."""
    prefix: str = Field(max_length=12)
    created_at: datetime = timestamp_field()
    expires_at: datetime | None = timestamp_field(nullable=True)
    """None: valid until revoked."""
    last_used_at: datetime | None = timestamp_field(nullable=True)
    revoked_at: datetime | None = timestamp_field(nullable=True)
