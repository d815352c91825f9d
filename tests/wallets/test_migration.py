"""Migration 20261202_0003: the twin `ck_wallets_closed_is_empty`, reversible on both backends,
and gentle with wallets that a transfer credited while they were being closed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gopherpayd.admin import service as admin_service
from gopherpayd.migrate import alembic_config, upgrade_to_head

BEFORE = "20261126_0002"
CONSTRAINT = "ck_wallets_closed_is_empty"
INSERT_CLOSED_SYSTEM_WALLET = (
    "INSERT INTO wallets (id, owner_id, currency, kind, balance, frozen, created_at, closed_at) "
    "VALUES (:id, NULL, :currency, 'system', :balance, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


@pytest.fixture
def engine(unmigrated_url: str) -> Iterator[Engine]:
    engine = create_engine(unmigrated_url)
    yield engine
    engine.dispose()


def new_id(engine: Engine) -> str:
    value = uuid.uuid4()
    return value.hex if engine.dialect.name == "sqlite" else str(value)


def closed_system_wallet(engine: Engine, currency: str, balance: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(INSERT_CLOSED_SYSTEM_WALLET),
            {"id": new_id(engine), "currency": currency, "balance": balance},
        )


def test_the_twin_comes_with_the_upgrade_and_goes_with_the_downgrade(
    unmigrated_url: str, engine: Engine
) -> None:
    upgrade_to_head(unmigrated_url)
    with pytest.raises(IntegrityError, match=CONSTRAINT):
        closed_system_wallet(engine, "USD", 5)

    command.downgrade(alembic_config(unmigrated_url), BEFORE)
    closed_system_wallet(engine, "USD", 5)  # allowed again, as before the revision

    with engine.begin() as connection:
        connection.execute(text("DELETE FROM wallets"))
    upgrade_to_head(unmigrated_url)
    with pytest.raises(IntegrityError, match=CONSTRAINT):
        closed_system_wallet(engine, "EUR", 5)


@pytest.mark.parametrize("unmigrated_url", ["postgres"], indirect=True)
def test_money_already_stranded_in_a_closed_wallet_does_not_stop_the_upgrade_and_the_audit_names_it(
    unmigrated_url: str, engine: Engine
) -> None:
    command.upgrade(alembic_config(unmigrated_url), BEFORE)
    closed_system_wallet(engine, "USD", 5)

    upgrade_to_head(unmigrated_url)

    with engine.connect() as connection:
        validated = connection.execute(
            text("SELECT convalidated FROM pg_constraint WHERE conname = :name"), {"name": CONSTRAINT}
        ).scalar_one()
        report = admin_service.audit(Session(bind=connection))
    assert validated is False  # binds every new write; the old row waits for an operator
    assert [v.invariant for v in report.violations if v.invariant == "closed_wallet_is_empty"] == [
        "closed_wallet_is_empty"
    ]
    with pytest.raises(IntegrityError, match=CONSTRAINT):
        closed_system_wallet(engine, "EUR", 5)
