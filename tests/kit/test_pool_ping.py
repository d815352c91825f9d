"""The Postgres pool pings a connection only after it sat idle, and replaces a dead one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from gopherpayd.kit import db as kit_db
from gopherpayd.kit.db import Database


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    yield database
    database.dispose()


@pytest.fixture
def pings(postgres_db: Database, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ping the pool sends, counted on the dialect of this database's engine."""
    sent: list[object] = []
    dialect = postgres_db.engine.dialect
    real_ping = dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        sent.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting_ping)
    return sent


def _backend_pid(database: Database) -> int:
    return int(database.run(lambda session: session.execute(text("SELECT pg_backend_pid()")).scalar_one()))


def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(
    postgres_db: Database, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kit_db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = _backend_pid(postgres_db)  # a new connection: pinged once, as every fresh checkout
    pinged_so_far = len(pings)
    for _ in range(5):
        assert _backend_pid(postgres_db) == first
    assert len(pings) == pinged_so_far


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    postgres_db: Database, postgres_url: str, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(postgres_db)
    monkeypatch.setattr(kit_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout counts as idle now
    killer = Database(postgres_url)
    try:
        terminate = text("SELECT pg_terminate_backend(:pid)")
        assert killer.run(lambda session: session.execute(terminate, {"pid": first}).scalar_one())
    finally:
        killer.dispose()
    before = len(pings)
    second = _backend_pid(postgres_db)  # the ping finds the pooled connection dead: a new one serves
    assert second != first
    assert len(pings) > before
