"""Migration 20261202_0004 (login attempts, sign-ups, console actions in the audit log) goes down
and up again on both backends, keeping console actions. (That it matches the models is part of
the whole-schema drift check in tests/test_migrations.py.)"""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import create_engine, text

from gopherpayd.kit.migrate import alembic_config


def test_downgrading_hands_console_actions_to_their_account_and_upgrading_again_works(
    migrated_url: str,
) -> None:
    user_id, entry_id = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(migrated_url)
    as_id = (lambda value: value.hex) if migrated_url.startswith("sqlite") else str
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
