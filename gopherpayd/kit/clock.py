"""Time and ids, in one place so every timestamp is timezone-aware UTC."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A time read from outside (a query parameter, a cursor, a Kafka message) in UTC; naive means UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A `timestamp with time zone` column that reads back timezone-aware UTC on every backend.

    SQLite keeps the UTC wall-clock time as naive text and hands it back naive; Postgres hands it
    back in the session's time zone. Written values must be timezone-aware (a naive one is a bug:
    its zone is a guess) and are stored in UTC, so SQLite's text comparisons order them correctly.
    The DDL is the impl's, as the migrations created it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a timestamp column takes a datetime, not {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("a timestamp column takes a timezone-aware datetime, not a naive one")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)
