"""The live stream of one user's events, as Server-Sent Events.

Each event's SSE id is the user's event sequence number, assigned under a lock
on the user's row, so ids are gap-free and increase in commit order: a client
that reconnects with Last-Event-ID gets exactly the events it has not seen.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from gopherpayd.events import repository
from gopherpayd.events.envelope import Event
from gopherpayd.events.wakeups import StreamHub
from gopherpayd.kit.db import Database
from gopherpayd.kit.errors import AppError
from gopherpayd.notifications import messages
from gopherpayd.outbox import catalog
from gopherpayd.transfers import repository as transfer_repository
from gopherpayd.transfers import views
from gopherpayd.vocabulary import StreamFrame

KEEP_ALIVE_SECONDS = 15.0
RECHECK_SECONDS = 1.0
"""How long a stream waits for a wake-up before it reads again and re-checks its session:
a logout, a revoked session, a freeze or an expired token ends the stream within about this."""
BATCH = 100

SessionCheck = Callable[[Session], object]
"""Raises an AppError when the caller may no longer read the stream (revoked, frozen, expired)."""


def current_position(db: Database, user_id: uuid.UUID) -> int:
    return db.run(repository.current_user_seq, user_id)


def _next_batch(
    db: Database, user_id: uuid.UUID, after: int, still_allowed: SessionCheck
) -> list[tuple[int, str | None]] | None:
    """Rendered SSE frames after `after`: (seq, frame or None for events the stream skips);
    None once the caller's session no longer allows reading."""

    def read(session: Session) -> list[tuple[int, str | None]]:
        frames: list[tuple[int, str | None]] = []
        for row in repository.user_events_after(session, user_id, after, BATCH):
            event = Event.of(row)
            kind = catalog.kind_of(event.type)
            assert row.user_seq is not None
            if not kind.inbox:
                frames.append((row.user_seq, None))
            elif kind.transfer:
                transfer = transfer_repository.get(session, uuid.UUID(event.payload["transfer_id"]))
                assert transfer is not None  # written in the same transaction as the event
                described = views.describe(session, [transfer], user_id)[0]
                data = {
                    "event_id": str(event.id),
                    "type": event.type,
                    "transfer": described.model_dump(mode="json"),
                }
                frames.append((row.user_seq, _frame(row.user_seq, StreamFrame.TRANSFER, data)))
            else:
                title, body = messages.inbox_message(event)
                data = {
                    "event_id": str(event.id),
                    "type": event.type,
                    "title": title,
                    "body": body,
                    "data": event.payload,
                }
                frames.append((row.user_seq, _frame(row.user_seq, StreamFrame.NOTIFICATION, data)))
        # Checked after reading: whatever was read committed before this check passed, so an
        # event committed after a logout or a freeze is never sent.
        still_allowed(session)
        return frames

    try:
        return db.run(read)
    except AppError:
        return None


def _frame(seq: int, name: str, data: dict[str, Any]) -> str:
    return f"id: {seq}\nevent: {name}\ndata: {json.dumps(data, sort_keys=True)}\n\n"


async def event_stream(
    db: Database,
    hub: StreamHub,
    user_id: uuid.UUID,
    after: int,
    *,
    still_allowed: SessionCheck,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    """Frames until the client goes, the caller's session ends or the daemon shuts down."""
    # Say where the stream starts: a client cut off before the first event can
    # still resume from here with Last-Event-ID.
    yield f"retry: 1000\nid: {after}\n\n"
    position = after
    last_sent = time.monotonic()
    while not hub.stopping and not await disconnected():
        frames = await run_in_threadpool(_next_batch, db, user_id, position, still_allowed)
        if frames is None:
            return
        for seq, frame in frames:
            position = seq
            if frame is not None:
                yield frame
                last_sent = time.monotonic()
        if frames:
            continue
        if time.monotonic() - last_sent >= KEEP_ALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await hub.wait(str(user_id), RECHECK_SECONDS)
