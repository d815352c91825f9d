"""HTTP: send money, list history, show one transfer."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from gopherpayd.identity.dependencies import CurrentUser, TokenCaller
from gopherpayd.kit.clock import as_utc
from gopherpayd.kit.context import Context
from gopherpayd.kit.errors import PROBLEM_CONTENT_TYPE, BadRequest
from gopherpayd.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gopherpayd.transfers import batch, idempotency, service
from gopherpayd.transfers.outcomes import HoldChanged, Moved, MovementOutcome
from gopherpayd.transfers.repository import HistoryFilter
from gopherpayd.transfers.schemas import (
    MAX_BATCH_ITEMS,
    BatchMode,
    BatchRequestBody,
    BatchResult,
    ExchangeRequestBody,
    FeeOut,
    MovementPreview,
    StatementOut,
    TransferOut,
    TransferPage,
    TransferRequestBody,
)
from gopherpayd.wallets.schemas import CURRENCY_PATTERN
from gopherpayd.wallets.service import supported_currency

router = APIRouter(prefix="/v1", tags=["transfers"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Unique per intended transfer; retries reuse it"),
]
MOVEMENT_RESPONSES: dict[int | str, dict[str, object]] = {
    201: {"description": "Money moved (or the stored outcome of this key, replayed)"},
    200: {
        "description": "With dry_run=true: it would move; nothing was moved or stored",
        "model": MovementPreview,
    },
}
DryRun = Annotated[
    bool,
    Query(
        description="Check everything (recipient, funds, freezes, the fee) under the same locks "
        "and answer what would happen now, moving and storing nothing: 200 and a MovementPreview, "
        "or the refusal the real request would get. Idempotency-Key is optional and not recorded."
    ),
]


def preview_response(outcome: MovementOutcome) -> Response:
    """A dry run's outcome as HTTP: 200 and the preview, or the refusal's problem document."""
    if isinstance(outcome, Moved):
        transfer = outcome.transfer
        # An FX payment's fee is its quote's (in the sell currency); a transfer costs nothing.
        fee = FeeOut(amount=transfer.fx.fee, currency=transfer.fx.sell) if transfer.fx else None
        preview = MovementPreview(transfer=transfer, fee=fee or FeeOut(amount=0, currency=transfer.currency))
        return JSONResponse(preview.model_dump(mode="json"))
    assert not isinstance(outcome, HoldChanged)  # a transfer's preview
    return JSONResponse(
        outcome.refusal.to_problem(), status_code=outcome.refusal.status, media_type=PROBLEM_CONTENT_TYPE
    )


def movement_response(outcome: MovementOutcome) -> Response:
    """A money movement's outcome as HTTP: 201 and the Transfer, or the refusal's problem
    document (with the refusal's own headers, as `WWW-Authenticate`, unless replayed);
    replays are marked.

    A movement under an idempotency key answers with the very text its record keeps (keys
    sorted): built once, and the same bytes for the first answer and every replay.
    """
    headers = {"Idempotency-Replayed": "true"} if outcome.replayed else {}
    if isinstance(outcome, Moved | HoldChanged):
        status_code, media_type = idempotency.MOVED_STATUS, "application/json"
    else:
        status_code, media_type = outcome.refusal.status, PROBLEM_CONTENT_TYPE
        if not outcome.replayed:  # a stored refusal keeps its document only
            headers = outcome.refusal.headers | headers
    if outcome.encoded is not None:
        return Response(outcome.encoded, status_code=status_code, headers=headers, media_type=media_type)
    if isinstance(outcome, Moved):
        document = outcome.transfer.model_dump(mode="json")
    elif isinstance(outcome, HoldChanged):
        document = outcome.hold.model_dump(mode="json")
    else:
        document = outcome.refusal.to_problem()
    if outcome.replayed:
        document = idempotency.as_stored(document)
    return JSONResponse(document, status_code=status_code, headers=headers, media_type=media_type)


def parse_time_bound(name: str, text: str | None, *, end_of_day: bool) -> datetime | None:
    """An RFC 3339 timestamp, or a date (the start of it, or with `end_of_day` the end)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise BadRequest(f"{name} must be an RFC 3339 timestamp or a date (YYYY-MM-DD)") from error
    try:
        # In UTC: SQLite compares the stored UTC wall-clock text and would ignore an offset.
        value = as_utc(value)
        if end_of_day and len(text) == len("YYYY-MM-DD"):
            value += timedelta(days=1)
    except OverflowError as error:
        raise BadRequest(f"{name} is out of range") from error
    return value


@router.post("/transfers", status_code=201, response_model=TransferOut, responses=MOVEMENT_RESPONSES)
async def send_money(
    body: TransferRequestBody,
    principal: TokenCaller,
    context: Context,
    key: IdempotencyKey = None,
    dry_run: DryRun = False,
) -> Response:
    """Send money to another user, all or nothing."""
    if dry_run:
        outcome = await run_in_threadpool(
            service.preview_money, context.db, context.settings, principal, body, key
        )
        return preview_response(outcome)
    return movement_response(await service.send_money(context.db, context.settings, principal, body, key))


@router.post("/fx/exchange", status_code=201, response_model=TransferOut, responses=MOVEMENT_RESPONSES)
async def exchange(
    body: ExchangeRequestBody, principal: CurrentUser, context: Context, key: IdempotencyKey = None
) -> Response:
    """Execute one of your FX quotes between your own wallets: its sell side leaves your wallet in
    that currency, its buy side arrives in yours in the other (opened if you have none)."""
    return movement_response(await service.exchange(context.db, context.settings, principal, body, key))


BATCH_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "Independent mode: one result per item, each with its own status"},
    201: {"description": "Atomic mode: every item moved (or replayed a key's stored transfer)"},
    409: {
        "description": "Atomic mode: nothing moved; the failing item has its problem, every other "
        "one the problem linked_failed",
        "model": BatchResult,
    },
    413: {"description": "The body is larger than the batch body limit"},
    422: {"description": f"The body as a whole is invalid (no items, more than {MAX_BATCH_ITEMS}, bad mode)"},
}


def batch_item_document(item: batch.ItemOutcome) -> dict[str, object]:
    """One item's result: its status and its Transfer, or its refusal's problem document."""
    outcome = item.outcome
    if isinstance(outcome, Moved):
        status, transfer, problem = idempotency.MOVED_STATUS, outcome.transfer.model_dump(mode="json"), None
    else:
        assert not isinstance(outcome, HoldChanged)  # a batch carries transfers only
        status, transfer, problem = outcome.refusal.status, None, outcome.refusal.to_problem()
    return {
        "index": item.index,
        "key": item.key,
        "status": status,
        "replayed": outcome.replayed,
        "transfer": transfer,
        "problem": problem,
    }


@router.post(
    "/transfers/batch",
    status_code=200,
    summary="Send up to 1000 transfers at once, each with its own idempotency key",
    response_model=BatchResult,
    responses=BATCH_RESPONSES,
)
async def send_money_batch(body: BatchRequestBody, principal: CurrentUser, context: Context) -> JSONResponse:
    """Send up to 1000 transfers at once, each with its own idempotency key; independent or atomic.

    Each item is a POST /v1/transfers body plus `key`, its Idempotency-Key (scoped alike,
    so keys replay across both endpoints). Independent mode answers 200 with one result
    per item. Atomic mode moves all items or none: 201 when all moved, else 409 with the
    failing item's problem and `linked_failed` for the others, and nothing stored.
    """
    outcome = await batch.run_batch(context.db, context.settings, principal, body)
    status_code = 200
    if outcome.mode is BatchMode.ATOMIC:
        status_code = idempotency.MOVED_STATUS if outcome.all_moved else 409
    document = {"mode": outcome.mode.value, "results": [batch_item_document(item) for item in outcome.items]}
    return JSONResponse(document, status_code=status_code)


@router.get("/transfers")
def list_transfers(
    principal: CurrentUser,
    context: Context,
    currency: Annotated[str | None, Query(pattern=CURRENCY_PATTERN)] = None,
    direction: Literal["in", "out"] | None = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> TransferPage:
    """The caller's transfers, newest first."""
    spec = HistoryFilter(
        wallet_ids=[],
        currency=supported_currency(currency) if currency else None,
        direction=direction,
        since=parse_time_bound("since", since, end_of_day=False),
        until=parse_time_bound("until", until, end_of_day=True),
    )
    return context.db.run(service.history, principal, spec, cursor, limit)


@router.get("/transfers/{transfer_id}")
def get_transfer(transfer_id: uuid.UUID, principal: CurrentUser, context: Context) -> TransferOut:
    """One transfer the caller is a party to."""
    return context.db.run(service.get_transfer, principal, transfer_id)


@router.get("/statement")
def statement(
    principal: CurrentUser,
    context: Context,
    currency: Annotated[str, Query(pattern=CURRENCY_PATTERN)],
    since: Annotated[str, Query(max_length=40, description="RFC 3339 time: the first moment")],
    until: Annotated[str, Query(max_length=40, description="RFC 3339 time: the end (excluded)")],
) -> StatementOut:
    """The caller's statement in one currency: opening balance, every movement, totals, closing."""
    start = parse_time_bound("since", since, end_of_day=False)
    end = parse_time_bound("until", until, end_of_day=False)
    assert start is not None and end is not None  # both are required
    if end <= start:
        raise BadRequest("until must be later than since")
    return context.db.run(service.statement, principal, supported_currency(currency), start, end)
