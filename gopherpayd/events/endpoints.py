"""HTTP: the caller's live event stream, and the operators' view of the pipeline."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import StreamingResponse
from fastapi.security.utils import get_authorization_scheme_param
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from gopherpayd.events import operations, stream
from gopherpayd.events.errors import TooManyStreams
from gopherpayd.events.schemas import (
    DeadLetterOut,
    DeadLetterPage,
    EventsStatus,
    ReplayRequest,
    ReplayRequested,
)
from gopherpayd.identity import service as identity_service
from gopherpayd.identity.dependencies import CurrentAdmin, CurrentUser
from gopherpayd.kit.context import Context
from gopherpayd.kit.errors import BadRequest
from gopherpayd.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/v1", tags=["events"])


STREAM_RETRY_AFTER_SECONDS = 5


def _stream_start(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is not None:
        digits = last_event_id.strip()
        # str.isdigit() also takes "²" and other digits int() refuses.
        if not (digits.isascii() and digits.isdigit()):
            raise BadRequest("Last-Event-ID must be an event id this stream sent")
        return int(digits)
    return after


class EventStreamResponse(StreamingResponse):
    """A streaming response that runs `on_close` once it is over, however it ended."""

    def __init__(
        self, content: AsyncIterable[str], headers: Mapping[str, str], on_close: Callable[[], None]
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


@router.get("/stream", response_class=StreamingResponse)
async def live_stream(
    request: Request,
    principal: CurrentUser,
    context: Context,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> StreamingResponse:
    """The caller's new transfers and notifications as Server-Sent Events.

    The stream ends when the caller's session does (logout, revoked, frozen, token expired)
    and when the daemon shuts down.
    """
    start = _stream_start(last_event_id, after)
    position = await run_in_threadpool(stream.current_position, context.db, principal.user_id)
    if start is None:
        start = position
    elif start > position:
        # Waiting for it would silently skip every event up to it.
        raise BadRequest(f"event {start} has not happened on this stream; the latest is {position}")
    _scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    settings = context.settings

    def still_allowed(session: Session) -> object:
        return identity_service.authenticate(session, settings, token)

    hub = request.app.state.stream_hub
    user_key = str(principal.user_id)
    limit = settings.max_streams_per_user
    if not hub.open_stream(user_key, limit):
        raise TooManyStreams(
            f"{principal.email} already has {limit} open event streams on this daemon (the most "
            "allowed); close one (another history --follow?) and try again",
            retry_after=STREAM_RETRY_AFTER_SECONDS,
        )
    frames = stream.event_stream(
        context.db,
        hub,
        principal.user_id,
        start,
        still_allowed=still_allowed,
        disconnected=request.is_disconnected,
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventStreamResponse(frames, headers, on_close=lambda: hub.close_stream(user_key))


@router.get("/admin/events/status")
def events_status(admin: CurrentAdmin, context: Context) -> EventsStatus:
    """Outbox backlog, oldest unpublished event, consumer lag and dead letters."""
    lag = None
    if context.settings.uses_kafka:
        from gopherpayd.events.kafka import consumer_lag

        lag = consumer_lag(context.settings)
    return context.db.run(operations.status, context.settings.uses_kafka, lag)


@router.get("/admin/events/dead-letters")
def list_dead_letters(
    admin: CurrentAdmin,
    context: Context,
    pending: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> DeadLetterPage:
    """Events whose delivery kept failing, newest first."""
    return context.db.run(operations.dead_letters, pending, cursor, limit)


@router.post("/admin/events/dead-letters/replay", status_code=status.HTTP_202_ACCEPTED)
def replay_all(body: ReplayRequest, admin: CurrentAdmin, context: Context) -> ReplayRequested:
    """Deliver every dead letter not yet replayed again."""
    return ReplayRequested(requested=context.db.run(operations.replay_all, admin, body.reason))


@router.post("/admin/events/dead-letters/{dead_letter_id}/replay", status_code=status.HTTP_202_ACCEPTED)
def replay_one(
    dead_letter_id: uuid.UUID, body: ReplayRequest, admin: CurrentAdmin, context: Context
) -> DeadLetterOut:
    """Deliver one dead letter again."""
    return context.db.run(operations.replay_one, admin, dead_letter_id, body.reason)
