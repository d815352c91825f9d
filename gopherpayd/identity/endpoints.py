"""HTTP: sign-up, login, refresh, logout, me, password, sessions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from gopherpayd.identity import service
from gopherpayd.identity.dependencies import Client, CurrentUser
from gopherpayd.identity.schemas import (
    LoginRequest,
    PasswordChangeRequest,
    RefreshRequest,
    SessionList,
    SessionOut,
    SignupRequest,
    TokenPair,
    UserOut,
    VerificationSent,
    VerifyEmailRequest,
)
from gopherpayd.kit.context import Context
from gopherpayd.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery

router = APIRouter(prefix="/v1", tags=["identity"])


@router.post("/auth/signup", status_code=status.HTTP_201_CREATED)
def signup(body: SignupRequest, context: Context, client: Client) -> UserOut:
    """Create an account."""
    # bcrypt before the transaction: on SQLite a transaction holds the one write lock.
    password_hash = service.hash_new_password(context.settings, body.password)
    outcome = context.db.run(
        lambda s: service.sign_up(s, context.settings, body.email, body.full_name, password_hash, client)
    )
    return UserOut.of(outcome.unwrap())


@router.post("/auth/login")
def login(body: LoginRequest, context: Context, client: Client) -> TokenPair:
    """Exchange email and password for an access token and a refresh token."""
    # Two short transactions around bcrypt: the attempt is counted before the
    # password is checked, and no lock is held while it is.
    pending = context.db.run(service.begin_login, context.settings, body.email, client)
    service.check_login_password(context.settings, pending, body.password)
    outcome = context.db.run(service.finish_login, context.settings, pending, client)
    return outcome.unwrap()


@router.post("/auth/refresh")
def refresh(body: RefreshRequest, context: Context) -> TokenPair:
    """Rotate a refresh token into a new token pair."""
    outcome = context.db.run(service.refresh, context.settings, body.refresh_token)
    return outcome.unwrap()


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: CurrentUser, context: Context) -> Response:
    """Revoke the current session."""
    context.db.run(service.logout, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
def me(principal: CurrentUser, context: Context) -> UserOut:
    """The logged-in user."""
    return UserOut.of(context.db.run(service.get_user, principal.user_id))


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(
    body: PasswordChangeRequest, principal: CurrentUser, context: Context, client: Client
) -> Response:
    """Change the password and revoke every other session."""
    # Like login: the attempt is taken before bcrypt, and bcrypt holds no transaction.
    pending = context.db.run(
        lambda s: service.begin_password_change(s, context.settings, principal, body.new_password, client)
    )
    service.check_current_password(pending, body.current_password)
    new_hash = service.hash_new_password(context.settings, body.new_password)
    outcome = context.db.run(service.finish_password_change, pending, new_hash, principal)
    outcome.unwrap()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions")
def list_sessions(
    principal: CurrentUser, context: Context, limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None
) -> SessionList:
    """The caller's sessions, newest first."""
    rows, next_cursor = context.db.run(service.list_sessions, principal, cursor, limit)
    return SessionList(
        items=[SessionOut.of(row, principal.session_id) for row in rows], next_cursor=next_cursor
    )


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_session(session_id: uuid.UUID, principal: CurrentUser, context: Context) -> Response:
    """Revoke one of the caller's sessions."""
    context.db.run(service.revoke_session, principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/verify-email")
def verify_email(body: VerifyEmailRequest, principal: CurrentUser, context: Context) -> UserOut:
    """Prove ownership of the email address with the code that was sent to it."""
    outcome = context.db.run(service.verify_email, context.settings, principal, body.code)
    return UserOut.of(outcome.unwrap())


@router.post("/auth/verify-email/resend", status_code=status.HTTP_202_ACCEPTED)
def resend_verification(principal: CurrentUser, context: Context) -> VerificationSent:
    """Send a new verification code; earlier codes stop working."""
    expires_in = context.db.run(service.resend_verification, context.settings, principal)
    return VerificationSent(email=principal.email, expires_in=expires_in)
