"""Table: the transactional outbox."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Text, text
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
