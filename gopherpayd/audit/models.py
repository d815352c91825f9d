"""Table: the operators' audit log."""

import uuid
from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from gopherpayd.kit.models import fk_field, id_field, timestamp_field


class AuditLogEntry(SQLModel, table=True):
    """Who did what to whom, when and why. Rows are only ever added."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_created", "created_at", "id"),)

    id: uuid.UUID = id_field()
    actor_id: uuid.UUID | None = fk_field("users.id", nullable=True)
    """The operator; NULL for an action taken with `gopherpayd` at the console (see details)."""
    action: str = Field(max_length=60)
    target: str = Field(max_length=200)
    reason: str = Field(max_length=500)
    details: str = Field(default="{}", sa_type=Text)
    created_at: datetime = timestamp_field()
