"""HTTP: currencies and the caller's wallets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from gopherpayd.identity.dependencies import CurrentUser
from gopherpayd.kit.context import Context
from gopherpayd.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from gopherpayd.wallets import service
from gopherpayd.wallets.schemas import (
    CURRENCY_PATTERN,
    CurrencyList,
    CurrencyOut,
    OpenWalletRequest,
    WalletList,
    WalletOut,
)

router = APIRouter(prefix="/v1", tags=["wallets"])
CurrencyPath = Annotated[str, Path(pattern=CURRENCY_PATTERN, description="ISO 4217 code")]


@router.get("/currencies")
def list_currencies(limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None) -> CurrencyList:
    """Supported currencies and their minor-unit exponents, A to Z by code."""
    currencies, next_cursor = service.list_currencies(cursor, limit)
    return CurrencyList(
        items=[CurrencyOut(code=c.code, exponent=c.exponent, name=c.name) for c in currencies],
        next_cursor=next_cursor,
    )


@router.get("/wallets")
def list_wallets(
    principal: CurrentUser, context: Context, limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None
) -> WalletList:
    """The caller's open wallets with balances, A to Z by currency."""
    wallets, next_cursor = context.db.run(service.list_wallets, principal.user_id, cursor, limit)
    return WalletList(items=[WalletOut.model_validate(w) for w in wallets], next_cursor=next_cursor)


@router.post("/wallets", status_code=status.HTTP_201_CREATED)
def open_wallet(body: OpenWalletRequest, principal: CurrentUser, context: Context) -> WalletOut:
    """Open a wallet in a currency."""
    return WalletOut.model_validate(context.db.run(service.open_wallet, principal.user_id, body.currency))


@router.get("/wallets/{currency}")
def get_wallet(currency: CurrencyPath, principal: CurrentUser, context: Context) -> WalletOut:
    """The caller's wallet in one currency."""
    return WalletOut.model_validate(context.db.run(service.get_wallet, principal.user_id, currency))


@router.delete("/wallets/{currency}")
def close_wallet(currency: CurrencyPath, principal: CurrentUser, context: Context) -> WalletOut:
    """Close the caller's wallet in a currency; its balance must be zero."""
    return WalletOut.model_validate(context.db.run(service.close_wallet, principal.user_id, currency))
