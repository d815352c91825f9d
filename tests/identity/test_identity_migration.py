"""Migrations 20261202_0004 (login attempts, sign-ups, console actions in the audit log, codes
left in clear) and 20261202_0005 (email skeletons) go down and up again on both backends, keeping
what they must. (That they match the models is the whole-schema drift check in
tests/test_migrations.py.)"""

from __future__ import annotations

import json
import uuid
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from gopherpayd.migrate import alembic_config
from gopherpayd.tables import metadata


def test_downgrading_hands_console_actions_to_their_account_and_upgrading_again_works(
    migrated_url: str,
) -> None:
    user_id, entry_id = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(migrated_url)
    as_id = (lambda value: value.hex) if migrated_url.startswith("sqlite") else str
    command.downgrade(alembic_config(migrated_url), "20261202_0004")  # the rows as 0004 knew them
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

    config = alembic_config(migrated_url)
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


def test_upgrading_removes_codes_left_in_clear_and_keeps_the_rest(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    as_id = (lambda value: value.hex) if migrated_url.startswith("sqlite") else str
    config = alembic_config(migrated_url)
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


def test_the_email_skeleton_migration_fills_in_existing_accounts_and_goes_down_and_up(
    migrated_url: str,
) -> None:
    engine = create_engine(migrated_url)
    as_id = (lambda value: value.hex) if migrated_url.startswith("sqlite") else str
    config = alembic_config(migrated_url)
    command.downgrade(config, "20261202_0004")
    with engine.begin() as connection:
        for email in ("b0b@example.com", "\u0430\u0441\u0435@example.com"):
            connection.execute(
                text(
                    "INSERT INTO users (id, email, full_name, password_hash, role, frozen, created_at, "
                    "password_changed_at, event_seq) VALUES (:id, :email, 'Someone', 'x', 'user', "
                    "false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0)"
                ),
                {"id": as_id(uuid.uuid4()), "email": email},
            )

    command.upgrade(config, "head")
    with engine.connect() as connection:
        skeletons = connection.execute(text("SELECT email_skeleton FROM users ORDER BY email")).scalars()
        filled = sorted(skeletons)
    command.downgrade(config, "20261202_0004")
    command.upgrade(config, "head")

    def only_users(item: Any, _name: str | None, type_: str, _reflected: bool, _other: Any) -> bool:
        table = item if type_ == "table" else getattr(item, "table", None)
        return getattr(table, "name", None) == "users"

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": only_users})
        differences = compare_metadata(context, metadata)
    engine.dispose()

    assert filled == ["ace@example.com", "bob@example.com"]
    assert differences == []
