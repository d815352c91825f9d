"""Table: the transactional outbox."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Text, Uuid, text
from sqlmodel import Field, SQLModel

from gopherpayd.kit.models import id_field, timestamp_field


class OutboxEvent(SQLModel, table=True):
    """An event written in the same transaction as the change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_user_seq", "aggregate_key", "user_seq"),
        Index(
            "ix_outbox_unpublished",
            "created_at",
            sqlite_where=text("published_at IS NULL"),
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    id: uuid.UUID = id_field()
    """The event id consumers deduplicate on."""
    event_type: str = Field(max_length=60)
    aggregate_key: str = Field(max_length=100)
    """The affected user's id: the Kafka key that keeps one user's events in order."""
    user_seq: int | None = Field(default=None, sa_type=BigInteger)
    """Position in the affected user's event sequence (gap-free, in commit order)."""
    payload: str = Field(sa_type=Text)
    """JSON document; amounts in minor units next to their currency."""
    created_at: datetime = timestamp_field()
    published_at: datetime | None = timestamp_field(nullable=True)
    """When the broker acknowledged it (or the in-process dispatcher handled it)."""


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
