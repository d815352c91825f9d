"""Writing events to the outbox, inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlmodel import Session

from gopherpayd.outbox import repository
from gopherpayd.outbox.models import OutboxEvent
from gopherpayd.vocabulary import EventType


def emit(session: Session, event_type: EventType, user_id: uuid.UUID, payload: dict[str, Any]) -> None:
    """Record that `event_type` happened to `user_id`; delivered after commit.

    The event takes the user's next sequence number, so the live stream can resume
    exactly where a client left off. A type that is no EventType raises ValueError here:
    written, it would reach no workflow and no inbox.
    """
    event_type = EventType(event_type)
    seq, email = repository.next_user_seq(session, user_id)
    body = {"user_id": str(user_id), "email": email, **payload}
    event = OutboxEvent(
        event_type=event_type.value,
        aggregate_key=str(user_id),
        user_seq=seq,
        payload=json.dumps(body, sort_keys=True, default=str),
    )
    repository.add_event(session, event)
    repository.notify_listeners(session, user_id)
    wake_after_commit(session, user_id)


def wake_after_commit(session: Session, user_id: uuid.UUID) -> None:
    """Remember whose stream to wake in this process once the transaction commits."""
    session.info.setdefault("wake_users", set()).add(str(user_id))
