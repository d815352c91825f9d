"""HTTP: the caller's in-app inbox."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from gopherpayd.identity.dependencies import CurrentUser
from gopherpayd.kit.context import Context
from gopherpayd.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gopherpayd.notifications import service
from gopherpayd.notifications.schemas import MarkedRead, NotificationOut, NotificationPage

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


@router.get("")
def list_notifications(
    principal: CurrentUser,
    context: Context,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> NotificationPage:
    """The caller's notifications, newest first."""
    return context.db.run(service.inbox, principal, unread, cursor, limit)


@router.post("/read-all")
def mark_all_read(principal: CurrentUser, context: Context) -> MarkedRead:
    """Mark every notification read."""
    return MarkedRead(marked=context.db.run(service.mark_all_read, principal))


@router.post("/{notification_id}/read")
def mark_read(notification_id: uuid.UUID, principal: CurrentUser, context: Context) -> NotificationOut:
    """Mark one notification read."""
    return context.db.run(service.mark_read, principal, notification_id)
