"""SQL for delivering the outbox: claiming, publishing, processed events and dead letters."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from gopherpayd.events.models import DeadLetter, ProcessedEvent
from gopherpayd.identity.models import User
from gopherpayd.kit.db import insert_rows
from gopherpayd.kit.models import table_of
from gopherpayd.kit.pagination import Cursor, newest_first
from gopherpayd.outbox.models import OutboxEvent


def count_unpublished(session: Session) -> int:
    query = select(func.count()).select_from(OutboxEvent).where(col(OutboxEvent.published_at).is_(None))
    return int(session.exec(query).one())


def oldest_unpublished(session: Session) -> datetime | None:
    query = sa_select(func.min(OutboxEvent.created_at)).where(col(OutboxEvent.published_at).is_(None))
    return session.execute(query).scalar_one_or_none()


def claim_unpublished(session: Session, limit: int) -> list[OutboxEvent]:
    """The oldest unpublished events; on Postgres locked, skipping rows another relay holds."""
    query = (
        select(OutboxEvent)
        .where(col(OutboxEvent.published_at).is_(None))
        .order_by(col(OutboxEvent.created_at), col(OutboxEvent.aggregate_key), col(OutboxEvent.user_seq))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.exec(query).all())


def mark_published(session: Session, event_ids: Iterable[uuid.UUID], now: datetime) -> None:
    ids = list(event_ids)
    if ids:
        statement = update(OutboxEvent).where(col(OutboxEvent.id).in_(ids)).values(published_at=now)
        session.execute(statement)


def user_events_after(session: Session, user_id: uuid.UUID, after: int, limit: int) -> list[OutboxEvent]:
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.aggregate_key == str(user_id), col(OutboxEvent.user_seq) > after)
        .order_by(col(OutboxEvent.user_seq))
        .limit(limit)
    )
    return list(session.exec(query).all())


def current_user_seq(session: Session, user_id: uuid.UUID) -> int:
    return int(session.execute(sa_select(col(User.event_seq)).where(col(User.id) == user_id)).scalar_one())


def processed_among(session: Session, event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these events a handler has finished (one query)."""
    ids = sorted(set(event_ids))
    if not ids:
        return set()
    processed = table_of(ProcessedEvent).c
    return set(session.execute(sa_select(processed.event_id).where(processed.event_id.in_(ids))).scalars())


def mark_many_processed(session: Session, event_ids: Iterable[uuid.UUID], now: datetime) -> None:
    """Record these events as finished, in one statement."""
    rows = [{"event_id": event_id, "handled_at": now} for event_id in sorted(set(event_ids))]
    insert_rows(session, table_of(ProcessedEvent), rows)


def count_unhandled(session: Session) -> int:
    """Published events that no handler has finished nor parked as a dead letter."""
    processed = sa_select(col(ProcessedEvent.event_id))
    parked = sa_select(col(DeadLetter.event_id)).where(col(DeadLetter.replayed_at).is_(None))
    query = (
        select(func.count())
        .select_from(OutboxEvent)
        .where(
            col(OutboxEvent.published_at).is_not(None),
            col(OutboxEvent.id).not_in(processed),
            col(OutboxEvent.id).not_in(parked),
        )
    )
    return int(session.exec(query).one())


def add_dead_letter(session: Session, letter: DeadLetter) -> None:
    session.add(letter)
    session.flush()


def get_dead_letter(session: Session, letter_id: uuid.UUID) -> DeadLetter | None:
    return session.get(DeadLetter, letter_id)


def dead_letters_page(
    session: Session, pending_only: bool, after: Cursor | None, limit: int
) -> list[DeadLetter]:
    query = select(DeadLetter)
    if pending_only:
        query = query.where(col(DeadLetter.replayed_at).is_(None))
    query = newest_first(query, col(DeadLetter.created_at), col(DeadLetter.id), after)
    return list(session.exec(query.limit(limit)).all())


def count_dead_letters(session: Session, *, awaiting_replay: bool = False) -> int:
    query = select(func.count()).select_from(DeadLetter)
    if awaiting_replay:
        query = query.where(
            col(DeadLetter.replay_requested_at).is_not(None), col(DeadLetter.replayed_at).is_(None)
        )
    return int(session.exec(query).one())


def request_replay(session: Session, letter_ids: Iterable[uuid.UUID] | None, now: datetime) -> int:
    """Mark dead letters (all not yet replayed when `letter_ids` is None) for replay."""
    statement = update(DeadLetter).where(col(DeadLetter.replayed_at).is_(None))
    if letter_ids is not None:
        statement = statement.where(col(DeadLetter.id).in_(list(letter_ids)))
    result = session.execute(statement.values(replay_requested_at=now))
    return int(result.rowcount)  # type: ignore[attr-defined]


def claim_replays(session: Session, limit: int) -> list[DeadLetter]:
    query = (
        select(DeadLetter)
        .where(col(DeadLetter.replay_requested_at).is_not(None), col(DeadLetter.replayed_at).is_(None))
        .order_by(col(DeadLetter.created_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.exec(query).all())


def mark_replayed(session: Session, letter_ids: Iterable[uuid.UUID], now: datetime) -> None:
    ids = list(letter_ids)
    if ids:
        session.execute(update(DeadLetter).where(col(DeadLetter.id).in_(ids)).values(replayed_at=now))
