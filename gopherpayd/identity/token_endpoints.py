"""HTTP: long-lived API tokens (create, list, revoke), for the logged-in user."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from gopherpayd.identity import api_tokens
from gopherpayd.identity.dependencies import CurrentUser
from gopherpayd.identity.schemas import ApiTokenCreate, ApiTokenCreated, ApiTokenList, ApiTokenOut
from gopherpayd.kit.context import Context
from gopherpayd.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery

router = APIRouter(prefix="/v1/tokens", tags=["identity"])


def _from_a_login(request: Request, action: str) -> None:
    api_tokens.refuse_api_token(bool(getattr(request.state, "api_token", False)), action)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(
    body: ApiTokenCreate, principal: CurrentUser, context: Context, request: Request
) -> ApiTokenCreated:
    """Create an API token; the answer is the only place the token ever appears."""
    _from_a_login(request, "creating an API token")
    created = context.db.run(
        lambda s: api_tokens.create(s, principal, body.name, body.scope, body.expires_in_days)
    )
    return ApiTokenCreated(**ApiTokenOut.of(created.row).model_dump(), token=created.token)


@router.get("")
def list_tokens(
    principal: CurrentUser,
    context: Context,
    request: Request,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ApiTokenList:
    """The caller's API tokens, newest first (never the tokens themselves)."""
    _from_a_login(request, "listing API tokens")
    rows, next_cursor = context.db.run(api_tokens.list_tokens, principal, cursor, limit)
    return ApiTokenList(items=[ApiTokenOut.of(row) for row in rows], next_cursor=next_cursor)


@router.delete("/{token_id}")
def revoke_token(
    token_id: uuid.UUID, principal: CurrentUser, context: Context, request: Request
) -> ApiTokenOut:
    """Revoke one of the caller's API tokens: it stops working at once."""
    _from_a_login(request, "revoking an API token")
    return ApiTokenOut.of(context.db.run(api_tokens.revoke, principal, token_id))
