"""Request dependencies: who is calling, and may they do this."""

from __future__ import annotations

import ipaddress
import threading
import weakref
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from gopherpayd.identity import api_tokens, service, tokens
from gopherpayd.identity.errors import AdminRequired
from gopherpayd.identity.service import Caller, ClientInfo, Principal
from gopherpayd.identity.session_cache import SessionCache, register, unregister
from gopherpayd.kit.context import AppContext, Context
from gopherpayd.kit.db import Database
from gopherpayd.kit.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="Access token from /v1/auth/login")


def _access_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("this endpoint needs an access token: log in first")
    return credentials.credentials


async def current_principal(
    request: Request,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, on the event loop: a cached session costs no thread hand-off and no query;
    only a cache miss reads the session, in a worker thread."""
    token = _access_token(credentials)
    if api_tokens.looks_like_api_token(token):  # a long-lived token: checked in the database every time
        return await _api_token_principal(request, context, token)
    claims = tokens.decode_access_token(context.settings, token)  # signature and expiry, every time
    cache = _session_cache(context)
    cached = cache.get(claims.session_id, claims.user_id)
    if cached is not None:
        return cached
    generation, read_at = cache.generation(), cache.now()
    principal = await run_in_threadpool(context.db.run, service.authenticate, context.settings, token)
    cache.put(principal, read_at, generation)
    return principal


async def token_caller(
    request: Request,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller as its access token names it, verified locally (signature, expiry) and
    nothing more: for the money endpoint, whose movement checks the session in the writer's
    batch (one query per batch). The session cache is not asked: a revocation committed by
    any process stops every movement of a batch that begins after it."""
    token = _access_token(credentials)
    if api_tokens.looks_like_api_token(token):  # no session behind it: checked in full here
        return await _api_token_principal(request, context, token)
    claims = tokens.decode_access_token(context.settings, token)
    return Caller(claims.user_id, claims.session_id)


async def _api_token_principal(request: Request, context: AppContext, token: str) -> Principal:
    request.state.api_token = True  # the token endpoints refuse it (gopherpayd.identity.api_tokens)
    return await run_in_threadpool(context.db.run, api_tokens.authenticate, token, request.method)


def _session_cache(context: AppContext) -> SessionCache:
    cache = _caches.get(context.db)
    if cache is None:
        with _caches_lock:
            cache = _caches.get(context.db)
            if cache is None:
                cache = register(SessionCache(context.settings.session_cache_seconds))
                _caches[context.db] = cache
                weakref.finalize(context.db, unregister, cache)
    return cache


_caches: weakref.WeakKeyDictionary[Database, SessionCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise AdminRequired("this endpoint is for operators (role admin)")
    return principal


def client_info(request: Request, context: Context) -> ClientInfo:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the
    right-most X-Forwarded-For hop that is not one (the left ones are the client's to forge)."""
    peer = request.client.host if request.client else None
    trusted = context.settings.trusted_proxy_networks
    address = peer
    if trusted and _is_trusted(peer, trusted):
        forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
        hops = [hop.strip() for hop in forwarded.split(",")]
        for hop in reversed(hops):
            hop_address = _parse_address(hop)
            if hop_address is None:
                break  # garbage from beyond our proxies: keep the last address we can vouch for
            address = str(hop_address)
            if not any(hop_address in network for network in trusted):
                break
    return ClientInfo(address=address[:64] if address else None, user_agent=request.headers.get("user-agent"))


def _parse_address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text or "")
    except ValueError:
        return None


def _is_trusted(peer: str | None, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    address = _parse_address(peer)
    return address is not None and any(address in network for network in trusted)


CurrentUser = Annotated[Principal, Depends(current_principal)]
TokenCaller = Annotated[Caller, Depends(token_caller)]
CurrentAdmin = Annotated[Principal, Depends(admin_principal)]
Client = Annotated[ClientInfo, Depends(client_info)]
