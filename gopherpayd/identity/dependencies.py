"""Request dependencies: who is calling, and may they do this."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gopherpayd.identity import service
from gopherpayd.identity.errors import AdminRequired
from gopherpayd.identity.service import ClientInfo, Principal
from gopherpayd.kit.context import Context
from gopherpayd.kit.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="Access token from /v1/auth/login")


def current_principal(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("this endpoint needs an access token: log in first")
    token = credentials.credentials
    return context.db.run(lambda session: service.authenticate(session, context.settings, token))


def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise AdminRequired("this endpoint is for operators (role admin)")
    return principal


def client_info(request: Request, context: Context) -> ClientInfo:
    address = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    if context.settings.trusted_proxies and forwarded:
        address = forwarded.split(",")[0].strip()[:64]
    return ClientInfo(address=address, user_agent=request.headers.get("user-agent"))


CurrentUser = Annotated[Principal, Depends(current_principal)]
CurrentAdmin = Annotated[Principal, Depends(admin_principal)]
Client = Annotated[ClientInfo, Depends(client_info)]
