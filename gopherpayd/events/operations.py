"""Operator views of the event pipeline: backlog, lag, dead letters and their replay."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from gopherpayd.audit.service import AuditNote, record
from gopherpayd.events import repository
from gopherpayd.events.schemas import DeadLetterOut, DeadLetterPage, EventsStatus
from gopherpayd.identity.service import Principal
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.errors import NotFound
from gopherpayd.kit.pagination import Cursor, split_page


class DeadLetterNotFound(NotFound):
    code, title = "dead_letter_not_found", "Dead letter not found"


def status(session: Session, kafka: bool, consumer_lag: int | None) -> EventsStatus:
    oldest = repository.oldest_unpublished(session)
    age = (utcnow() - oldest).total_seconds() if oldest is not None else None
    return EventsStatus(
        outbox_backlog=repository.count_unpublished(session),
        oldest_unpublished_age_seconds=age,
        transport="kafka" if kafka else "in-process",
        consumer_lag=consumer_lag,
        unhandled_events=repository.count_unhandled(session),
        dead_letters=repository.count_dead_letters(session),
        dead_letters_awaiting_replay=repository.count_dead_letters(session, awaiting_replay=True),
    )


def dead_letters(session: Session, pending_only: bool, cursor: str | None, limit: int) -> DeadLetterPage:
    after = Cursor.decode(cursor) if cursor else None
    rows = repository.dead_letters_page(session, pending_only, after, limit + 1)
    page, next_cursor = split_page(rows, limit)
    return DeadLetterPage(items=[DeadLetterOut.model_validate(row) for row in page], next_cursor=next_cursor)


def replay_one(session: Session, admin: Principal, letter_id: uuid.UUID, reason: str) -> DeadLetterOut:
    letter = repository.get_dead_letter(session, letter_id)
    if letter is None:
        raise DeadLetterNotFound(f"no dead letter {letter_id}")
    if letter.replayed_at is None:
        repository.request_replay(session, [letter.id], utcnow())
        session.refresh(letter)
    record(
        session,
        AuditNote(
            admin.user_id,
            "replay_dead_letter",
            f"dead_letter:{letter.id}",
            reason,
            {"event_id": str(letter.event_id), "event_type": letter.event_type},
        ),
    )
    return DeadLetterOut.model_validate(letter)


def replay_all(session: Session, admin: Principal, reason: str) -> int:
    requested = repository.request_replay(session, None, utcnow())
    record(
        session,
        AuditNote(admin.user_id, "replay_dead_letters", "dead_letters:all", reason, {"requested": requested}),
    )
    return requested
