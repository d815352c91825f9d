"""Migration 20261202_0004 (login attempts, sign-ups, console actions in the audit log): it
matches the models, and it goes down and up again on both backends."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from gopherpayd.migrate import alembic_config, upgrade_to_head
from gopherpayd.tables import metadata
from tests.support.databases import create_postgres_database, drop_postgres_database

TABLES = {"login_failures", "signup_attempts", "audit_log"}


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
        upgrade_to_head(url)
        yield url
        return
    name = f"gopherpay_migration_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    yield create_postgres_database(name)
    drop_postgres_database(name)


def test_the_models_and_the_migrated_schema_agree(fresh_url: str) -> None:
    def only_these_tables(item: Any, _name: str | None, type_: str, _reflected: bool, _other: Any) -> bool:
        table = item if type_ == "table" else getattr(item, "table", None)
        return getattr(table, "name", None) in TABLES

    engine = create_engine(fresh_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": only_these_tables})
        differences = compare_metadata(context, metadata)
    engine.dispose()

    assert differences == []


def test_downgrading_hands_console_actions_to_their_account_and_upgrading_again_works(fresh_url: str) -> None:
    user_id, entry_id = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(fresh_url)
    as_id = (lambda value: value.hex) if fresh_url.startswith("sqlite") else str
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, full_name, password_hash, role, frozen, created_at, "
                "password_changed_at, event_seq) VALUES (:id, 'ops@example.com', 'Ops', 'x', 'admin', "
                "false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0)"
            ),
            {"id": as_id(user_id)},
        )
        connection.execute(
            text(
                "INSERT INTO audit_log (id, actor_id, action, target, reason, details, created_at) "
                "VALUES (:id, NULL, 'set_role', :target, 'at the console', '{}', CURRENT_TIMESTAMP)"
            ),
            {"id": as_id(entry_id), "target": f"user:{user_id}"},
        )
        connection.execute(
            text(
                "INSERT INTO login_failures (id, account, address, created_at) "
                "VALUES (:id, 'ops@example.com', '127.0.0.1', CURRENT_TIMESTAMP)"
            ),
            {"id": as_id(uuid.uuid4())},
        )

    config = alembic_config(fresh_url)
    command.downgrade(config, "20261202_0003")
    with engine.connect() as connection:
        actor = connection.execute(text("SELECT actor_id FROM audit_log")).scalar_one()
        columns = {row[1] for row in connection.execute(text("SELECT 1, scope FROM login_failures")).all()}
    command.upgrade(config, "head")
    with engine.connect() as connection:
        signups = connection.execute(text("SELECT COUNT(*) FROM signup_attempts")).scalar_one()
    engine.dispose()

    assert str(actor).replace("-", "") == user_id.hex
    assert columns == set()
    assert signups == 0


def test_upgrading_removes_codes_left_in_clear_and_keeps_the_rest(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    as_id = (lambda value: value.hex) if fresh_url.startswith("sqlite") else str
    config = alembic_config(fresh_url)
    command.downgrade(config, "20261202_0003")
    event_id, letter_id = uuid.uuid4(), uuid.uuid4()
    payload = json.dumps({"code": "123456", "expires_in": 900})
    message = json.dumps(
        {"id": str(event_id), "type": "user.email_verification", "payload": json.loads(payload)}
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (id, event_type, aggregate_key, user_seq, payload, created_at) "
                "VALUES (:id, 'user.email_verification', 'u', 1, :payload, CURRENT_TIMESTAMP)"
            ),
            {"id": as_id(event_id), "payload": payload},
        )
        connection.execute(
            text(
                "INSERT INTO dead_letters (id, event_id, event_type, user_id, topic, message, reason, "
                "attempts, created_at) VALUES (:id, :event_id, 'user.email_verification', 'u', "
                "'gopherpay.identity', :message, 'novu down', 5, CURRENT_TIMESTAMP)"
            ),
            {"id": as_id(letter_id), "event_id": as_id(event_id), "message": message},
        )

    command.upgrade(config, "head")
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT payload FROM outbox")).scalar_one()
        parked = connection.execute(text("SELECT message FROM dead_letters")).scalar_one()
    engine.dispose()

    assert json.loads(stored) == {"expires_in": 900}
    assert json.loads(parked) == {
        "id": str(event_id),
        "type": "user.email_verification",
        "payload": {"expires_in": 900},
    }
    assert "123456" not in stored + parked
