"""HTTP: place, list, show, capture, void, decline and extend holds."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from gopherpayd.identity.dependencies import CurrentUser
from gopherpayd.kit.context import Context
from gopherpayd.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gopherpayd.transfers import holds
from gopherpayd.transfers.endpoints import IdempotencyKey, movement_response
from gopherpayd.transfers.schemas import (
    CaptureRequestBody,
    ExtendRequestBody,
    HoldOut,
    HoldPage,
    HoldRequestBody,
)
from gopherpayd.vocabulary import HoldAction

router = APIRouter(prefix="/v1", tags=["holds"])

HOLD_RESPONSES: dict[int | str, dict[str, object]] = {
    201: {"description": "Done (or the stored outcome of this key, replayed)", "model": HoldOut},
}


@router.post("/holds", status_code=201, response_model=HoldOut, responses=HOLD_RESPONSES)
async def place_hold(
    body: HoldRequestBody, principal: CurrentUser, context: Context, key: IdempotencyKey = None
) -> Response:
    """Reserve money for a payee: it leaves your available balance now, and moves on capture."""
    return movement_response(await holds.place(context.db, context.settings, principal, body, key))


@router.get("/holds")
def list_holds(
    principal: CurrentUser,
    context: Context,
    open: Annotated[bool, Query(description="Only holds still open and not expired")] = False,  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HoldPage:
    """The holds the caller pays or is paid by, newest first."""
    return context.db.run(holds.list_holds, principal, open, cursor, limit)


@router.get("/holds/{hold_id}")
def get_hold(hold_id: uuid.UUID, principal: CurrentUser, context: Context) -> HoldOut:
    """One hold the caller pays or is paid by."""
    return context.db.run(holds.get_hold, principal, hold_id)


@router.post("/holds/{hold_id}/capture", status_code=201, response_model=HoldOut, responses=HOLD_RESPONSES)
async def capture_hold(
    hold_id: uuid.UUID,
    body: CaptureRequestBody,
    principal: CurrentUser,
    context: Context,
    key: IdempotencyKey = None,
) -> Response:
    """Capture all or part of a hold (payer): a transfer to the payee, from the held money."""
    outcome = await holds.capture(context.db, context.settings, principal, hold_id, body, key)
    return movement_response(outcome)


@router.post("/holds/{hold_id}/void", status_code=201, response_model=HoldOut, responses=HOLD_RESPONSES)
async def void_hold(
    hold_id: uuid.UUID, principal: CurrentUser, context: Context, key: IdempotencyKey = None
) -> Response:
    """End a hold (payer): what was not captured goes back to the payer's available balance."""
    outcome = await holds.release(context.db, context.settings, principal, hold_id, HoldAction.VOID, key)
    return movement_response(outcome)


@router.post("/holds/{hold_id}/decline", status_code=201, response_model=HoldOut, responses=HOLD_RESPONSES)
async def decline_hold(
    hold_id: uuid.UUID, principal: CurrentUser, context: Context, key: IdempotencyKey = None
) -> Response:
    """Turn a hold down (payee): what was not captured goes back to the payer."""
    outcome = await holds.release(context.db, context.settings, principal, hold_id, HoldAction.DECLINE, key)
    return movement_response(outcome)


@router.post("/holds/{hold_id}/extend", status_code=201, response_model=HoldOut, responses=HOLD_RESPONSES)
async def extend_hold(
    hold_id: uuid.UUID,
    body: ExtendRequestBody,
    principal: CurrentUser,
    context: Context,
    key: IdempotencyKey = None,
) -> Response:
    """Move a hold's expiry later (payer)."""
    outcome = await holds.extend(context.db, context.settings, principal, hold_id, body, key)
    return movement_response(outcome)
