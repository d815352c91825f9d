"""Request and response bodies for identity."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictStr, field_validator

from gopherpayd.identity.models import ApiToken, AuthSession, User
from gopherpayd.vocabulary import Role, TokenScope

# Passwords are checked for byte length in the service (a clear 400); this cap
# only keeps absurd payloads out before bcrypt is ever reached.
PASSWORD_FIELD = Field(min_length=1, max_length=1024)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SignupRequest(StrictModel):
    email: EmailStr = Field(max_length=254)
    full_name: StrictStr = Field(min_length=1, max_length=200)
    password: StrictStr = PASSWORD_FIELD

    @field_validator("full_name")
    @classmethod
    def _name_has_text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("full name must not be blank")
        return value


class LoginRequest(StrictModel):
    email: EmailStr = Field(max_length=254)
    password: StrictStr = PASSWORD_FIELD


class RefreshRequest(StrictModel):
    refresh_token: StrictStr = Field(min_length=1, max_length=200)


class PasswordChangeRequest(StrictModel):
    current_password: StrictStr = PASSWORD_FIELD
    new_password: StrictStr = PASSWORD_FIELD


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    frozen: bool
    email_verified: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            frozen=user.frozen,
            email_verified=user.email_verified_at is not None,
            created_at=user.created_at,
        )


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    session_id: uuid.UUID
    user: UserOut


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    user_agent: str | None
    client_ip: str | None
    current: bool

    @classmethod
    def of(cls, row: AuthSession, current_id: uuid.UUID) -> SessionOut:
        return cls(
            id=row.id,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            user_agent=row.user_agent,
            client_ip=row.client_ip,
            current=row.id == current_id,
        )


class SessionList(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None


class VerifyEmailRequest(StrictModel):
    code: StrictStr = Field(min_length=1, max_length=20)


class VerificationSent(BaseModel):
    sent: Literal[True] = True
    email: str
    expires_in: int


class ApiTokenCreate(StrictModel):
    name: StrictStr = Field(min_length=1, max_length=100, pattern=r"^[\w.@:/+-][\w .@:/+-]*$")
    """What the token is for (`ci`, `dashboard`): letters, digits, spaces and . @ : / + - _"""
    scope: TokenScope
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    """None: valid until revoked."""


class ApiTokenOut(BaseModel):
    id: uuid.UUID
    name: str
    scope: TokenScope
    prefix: str
    """The token's first characters, to tell tokens apart; never the token."""
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> ApiTokenOut:
        return cls(
            id=row.id,
            name=row.name,
            scope=TokenScope(row.scope),
            prefix=row.prefix,
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


class ApiTokenCreated(ApiTokenOut):
    token: str
    """The token itself: in this answer only. Keep it as a secret (GOPHERPAY_TOKEN)."""


class ApiTokenList(BaseModel):
    items: list[ApiTokenOut]
    next_cursor: str | None
