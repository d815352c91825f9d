"""Inbox rules: a user reads and marks only their own notifications."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from gopherpayd.identity.service import Principal
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.errors import NotFound
from gopherpayd.kit.pagination import Cursor, split_page
from gopherpayd.notifications import repository
from gopherpayd.notifications.schemas import NotificationOut, NotificationPage


class NotificationNotFound(NotFound):
    code, title = "notification_not_found", "Notification not found"


def inbox(
    session: Session, principal: Principal, unread_only: bool, cursor: str | None, limit: int
) -> NotificationPage:
    after = Cursor.decode(cursor) if cursor else None
    rows = repository.page(session, principal.user_id, unread_only, after, limit + 1)
    page, next_cursor = split_page(rows, limit)
    return NotificationPage(items=[NotificationOut.of(row) for row in page], next_cursor=next_cursor)


def mark_read(session: Session, principal: Principal, notification_id: uuid.UUID) -> NotificationOut:
    row = repository.get(session, notification_id)
    if row is None or row.user_id != principal.user_id:
        raise NotificationNotFound(f"no notification {notification_id} in your inbox")
    if row.read_at is None:
        row.read_at = utcnow()
        session.add(row)
        session.flush()
    return NotificationOut.of(row)


def mark_all_read(session: Session, principal: Principal) -> int:
    return repository.mark_all_read(session, principal.user_id, utcnow())
