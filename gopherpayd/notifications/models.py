"""Table: the in-app inbox."""

import uuid
from datetime import datetime

from sqlalchemy import Index, Text, Uuid
from sqlmodel import Field, SQLModel

from gopherpayd.kit.models import fk_field, id_field, timestamp_field


class Notification(SQLModel, table=True):
    """One message in a user's in-app inbox, written once per event."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at", "id"),)

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = fk_field("users.id")
    event_id: uuid.UUID = Field(sa_type=Uuid, unique=True)
    event_type: str = Field(max_length=60)
    title: str = Field(max_length=200)
    body: str = Field(max_length=1000)
    data: str = Field(default="{}", sa_type=Text)
    """JSON: the event's details (amounts in minor units next to their currency)."""
    created_at: datetime = timestamp_field()
    read_at: datetime | None = timestamp_field(nullable=True)
