"""Timestamp columns: timezone-aware UTC out of both backends, and only aware times in."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from gopherpayd.audit.models import AuditLogEntry
from gopherpayd.kit.db import Database

INDIA = timezone(timedelta(hours=5, minutes=30))
only_sqlite = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
only_postgres = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def entry(created_at: datetime) -> AuditLogEntry:
    return AuditLogEntry(action="test", target="clock", reason="a timestamp", created_at=created_at)


def read_back(db: Database, entry_id: uuid.UUID, *, session_time_zone: str | None = None) -> datetime:
    with db.session() as session:
        if session_time_zone is not None:
            session.execute(text(f"SET TIME ZONE '{session_time_zone}'"))
        row = session.get(AuditLogEntry, entry_id)
        assert row is not None
        return row.created_at


def test_a_time_written_at_another_offset_reads_back_as_the_same_instant_in_utc(db: Database) -> None:
    written = entry(datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=INDIA))
    db.run(lambda s: s.add(written))

    read = read_back(db, written.id)

    assert read.tzinfo is UTC
    assert read.isoformat() == "2026-03-01T04:00:00.123456+00:00"


@only_sqlite
def test_sqlite_stores_the_utc_wall_clock_so_that_its_text_comparisons_order_instants(
    db: Database,
) -> None:
    written = entry(datetime(2026, 3, 1, 9, 30, tzinfo=INDIA))
    db.run(lambda s: s.add(written))

    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT created_at FROM audit_log")).scalar_one()

    assert stored == "2026-03-01 04:00:00.000000"


@only_postgres
def test_postgres_hands_back_utc_whatever_the_session_time_zone(db: Database) -> None:
    written = entry(datetime(2026, 3, 1, 4, 0, tzinfo=UTC))
    db.run(lambda s: s.add(written))

    read = read_back(db, written.id, session_time_zone="Asia/Tokyo")

    assert read.tzinfo is UTC
    assert read.isoformat() == "2026-03-01T04:00:00+00:00"


def test_a_naive_time_is_refused_before_it_reaches_the_database(db: Database) -> None:
    with pytest.raises(StatementError, match="timezone-aware datetime, not a naive one"):
        db.run(lambda s: (s.add(entry(datetime(2026, 3, 1, 4, 0))), s.flush()))
