"""Response bodies for the in-app inbox."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from gopherpayd.notifications.models import Notification


class NotificationOut(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    type: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> NotificationOut:
        return cls(
            id=row.id,
            event_id=row.event_id,
            type=row.event_type,
            title=row.title,
            body=row.body,
            data=json.loads(row.data),
            created_at=row.created_at,
            read_at=row.read_at,
        )


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


class MarkedRead(BaseModel):
    marked: int
