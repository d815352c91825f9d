"""SQL for the in-app inbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from gopherpayd.kit.db import insert_rows
from gopherpayd.kit.models import table_of
from gopherpayd.kit.pagination import Cursor, newest_first
from gopherpayd.notifications.models import Notification


def events_with_entries(session: Session, event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these events already have their inbox entry (one query)."""
    ids = sorted(set(event_ids))
    if not ids:
        return set()
    inbox = table_of(Notification).c
    return set(session.execute(sa_select(inbox.event_id).where(inbox.event_id.in_(ids))).scalars())


def add_many(session: Session, notifications: list[Notification]) -> None:
    """Insert these inbox entries in one statement."""
    insert_rows(session, table_of(Notification), [n.model_dump() for n in notifications])


def add(session: Session, notification: Notification) -> None:
    session.add(notification)
    session.flush()


def page(
    session: Session, user_id: uuid.UUID, unread_only: bool, after: Cursor | None, limit: int
) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    query = newest_first(query, col(Notification.created_at), col(Notification.id), after)
    return list(session.exec(query.limit(limit)).all())


def get(session: Session, notification_id: uuid.UUID) -> Notification | None:
    return session.get(Notification, notification_id)


def mark_all_read(session: Session, user_id: uuid.UUID, now: datetime) -> int:
    statement = (
        update(Notification)
        .where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
        .values(read_at=now)
    )
    return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]
