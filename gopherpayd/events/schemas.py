"""Response bodies for event operations and the live stream."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictStr

from gopherpayd.admin.schemas import REASON_FIELD


class EventsStatus(BaseModel):
    outbox_backlog: int
    oldest_unpublished_age_seconds: float | None
    transport: Literal["kafka", "in-process"]
    consumer_lag: int | None
    unhandled_events: int
    dead_letters: int
    dead_letters_awaiting_replay: int


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    user_id: str
    topic: str
    reason: str
    attempts: int
    created_at: datetime
    replay_requested_at: datetime | None
    replayed_at: datetime | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: StrictStr = REASON_FIELD


class ReplayRequested(BaseModel):
    requested: int
