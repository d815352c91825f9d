"""Writing events to the outbox, inside the caller's transaction."""

import json
import uuid
from typing import Any

from sqlmodel import Session

from gopherpayd.events import repository
from gopherpayd.events.models import OutboxEvent


def emit(session: Session, event_type: str, user_id: uuid.UUID, payload: dict[str, Any]) -> None:
    """Record that `event_type` happened to `user_id`; published after commit by the relay."""
    body = {"user_id": str(user_id), **payload}
    event = OutboxEvent(
        event_type=event_type,
        aggregate_key=str(user_id),
        payload=json.dumps(body, sort_keys=True, default=str),
    )
    repository.add_event(session, event)
