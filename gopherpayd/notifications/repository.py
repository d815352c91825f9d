"""SQL for the in-app inbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from gopherpayd.kit.pagination import Cursor, newest_first
from gopherpayd.notifications.models import Notification


def exists_for_event(session: Session, event_id: uuid.UUID) -> bool:
    return session.exec(select(Notification.id).where(Notification.event_id == event_id)).first() is not None


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
