"""HTTP: exchange rates (operators set them, everyone may look) and locked quotes."""

from __future__ import annotations

from fastapi import APIRouter, status

from gopherpayd.fx import service
from gopherpayd.fx.schemas import (
    AdminRateList,
    AdminRateOut,
    QuoteOut,
    QuoteRequest,
    RateList,
    SetRateRequest,
)
from gopherpayd.identity.dependencies import CurrentAdmin, CurrentUser
from gopherpayd.kit.context import Context

router = APIRouter(tags=["fx"])


@router.post("/v1/admin/fx/rates")
def set_rate(body: SetRateRequest, admin: CurrentAdmin, context: Context) -> AdminRateOut:
    """Set or replace the rate and spread of one currency pair (one direction)."""
    return context.db.run(service.set_rate, admin, body)


@router.get("/v1/admin/fx/rates")
def admin_rates(admin: CurrentAdmin, context: Context) -> AdminRateList:
    """Every pair's rate, with who set it and whether it still quotes."""
    return AdminRateList(items=context.db.run(service.admin_rates))


@router.get("/v1/fx/rates")
def rates(principal: CurrentUser, context: Context) -> RateList:
    """The rates that quote now; indicative: only a quote locks one."""
    return RateList(items=context.db.run(service.indicative_rates))


@router.post("/v1/fx/quotes", status_code=status.HTTP_201_CREATED)
def create_quote(body: QuoteRequest, principal: CurrentUser, context: Context) -> QuoteOut:
    """Lock the current rate for an amount on either side, for a short time."""
    return context.db.run(service.create_quote, context.settings, principal, body)
