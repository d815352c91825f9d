"""Tables: events the notification handlers finished, and dead letters."""

import uuid
from datetime import datetime

from sqlalchemy import Index, Text, Uuid
from sqlmodel import Field, SQLModel

from gopherpayd.kit.models import id_field, timestamp_field


class ProcessedEvent(SQLModel, table=True):
    """An event the notification handlers finished: a redelivery of it has no second effect."""

    __tablename__ = "processed_events"

    event_id: uuid.UUID = Field(primary_key=True, sa_type=Uuid)
    handled_at: datetime = timestamp_field()


class DeadLetter(SQLModel, table=True):
    """An event whose delivery kept failing, parked for an operator to inspect and replay."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_created", "created_at", "id"),)

    id: uuid.UUID = id_field()
    event_id: uuid.UUID = Field(sa_type=Uuid, index=True)
    event_type: str = Field(max_length=60)
    user_id: str = Field(max_length=100)
    topic: str = Field(max_length=200)
    message: str = Field(sa_type=Text)
    """The event as it was published, to publish again on replay."""
    reason: str = Field(max_length=1000)
    attempts: int
    created_at: datetime = timestamp_field()
    replay_requested_at: datetime | None = timestamp_field(nullable=True)
    replayed_at: datetime | None = timestamp_field(nullable=True)
