"""Writing events to the outbox, inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from gopherpayd.kit.clock import utcnow
from gopherpayd.outbox import repository
from gopherpayd.vocabulary import EventType


def emit(session: Session, event_type: EventType, user_id: uuid.UUID, payload: dict[str, Any]) -> None:
    """Record that `event_type` happened to `user_id`; delivered after commit.

    The event takes the user's next sequence number, so the live stream can resume
    exactly where a client left off. A type that is no EventType raises ValueError here:
    written, it would reach no workflow and no inbox.
    """
    emit_many(session, [Announcement(EventType(event_type), user_id, payload)])


@dataclass(frozen=True)
class Announcement:
    """An event for one user, to be written with others in one go (`emit_many`)."""

    event_type: EventType
    user_id: uuid.UUID
    payload: dict[str, Any]


def emit_many(session: Session, announcements: list[Announcement]) -> None:
    """`emit` for a whole batch: each user's numbers taken once, one insert, one wake-up.

    Each user's events are numbered in list order, so they reach the stream in the order
    the batch made them. They are stamped after their numbers are taken, under the users'
    row locks, so a user's later numbers never carry an earlier time.
    """
    if not announcements:
        return
    counts = Counter(a.user_id for a in announcements)
    numbers = repository.take_user_seqs(session, counts)
    next_seq = {user_id: first for user_id, (first, _email) in numbers.items()}
    created_at = utcnow()
    rows = []
    for announcement in announcements:
        user_id = announcement.user_id
        body = {"user_id": str(user_id), "email": numbers[user_id][1], **announcement.payload}
        rows.append(
            {
                "id": uuid.uuid4(),
                "event_type": EventType(announcement.event_type).value,
                "aggregate_key": str(user_id),
                "user_seq": next_seq[user_id],
                "payload": json.dumps(body, sort_keys=True, default=str),
                "created_at": created_at,
                "published_at": None,
            }
        )
        next_seq[user_id] += 1
    repository.add_event_rows(session, rows)
    repository.notify_listeners_of(session, counts)
    for user_id in counts:
        wake_after_commit(session, user_id)


def wake_after_commit(session: Session, user_id: uuid.UUID) -> None:
    """Remember whose stream to wake in this process once the transaction commits."""
    session.info.setdefault("wake_users", set()).add(str(user_id))
