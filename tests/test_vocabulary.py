"""The shared words: every event type is routed and worded, a misspelt one is refused before it
is written, and the CHECK constraints made from the enums are the ones the migrations created."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import CheckConstraint, create_engine, text

from gopherpayd.events.envelope import Event
from gopherpayd.kit.db import Database
from gopherpayd.notifications import messages
from gopherpayd.outbox import catalog
from gopherpayd.outbox import service as outbox
from gopherpayd.tables import metadata
from gopherpayd.vocabulary import EventType, Role, TransferKind, WalletKind, one_of


def test_every_event_type_has_its_catalog_entry_and_the_catalog_names_only_event_types() -> None:
    assert list(catalog.EVENTS) == list(EventType)
    assert all(type(event_type) is EventType for event_type in catalog.EVENTS)


def test_an_event_type_read_back_finds_its_kind_and_an_unknown_one_is_delivered_nowhere() -> None:
    assert catalog.kind_of("transfer.sent") is catalog.EVENTS[EventType.TRANSFER_SENT]
    assert catalog.kind_of("transfer.snet") is catalog.UNKNOWN_KIND


@pytest.mark.parametrize("event_type", [t for t in EventType if catalog.EVENTS[t].inbox])
def test_every_event_shown_in_the_inbox_has_its_own_words(event_type: EventType) -> None:
    event = Event(uuid.uuid4(), event_type, str(uuid.uuid4()), 1, datetime.now(UTC), {"amount": 100})

    title, body = messages.inbox_message(event)

    assert (title, body) != (event_type, "")  # the fallback for a type nobody worded


def test_a_misspelt_event_type_is_refused_before_anything_is_written(db: Database) -> None:
    with db.session() as session:
        with pytest.raises(ValueError, match="'transfer.snet' is not a valid EventType"):
            outbox.emit(session, "transfer.snet", uuid.uuid4(), {})  # type: ignore[arg-type]
        assert not session.new
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM outbox")).scalar_one() == 0


def test_one_of_lists_the_members_in_their_order() -> None:
    assert one_of("role", Role) == "role IN ('user', 'admin')"
    assert one_of("kind", WalletKind) == "kind IN ('user', 'system', 'fx_house', 'fx_revenue')"
    assert one_of("kind", TransferKind) == (
        "kind IN ('transfer', 'deposit', 'withdrawal', 'reversal', 'exchange', 'fx_transfer')"
    )


def modelled_checks() -> list[tuple[str, str, str]]:
    """(table, constraint, SQL text) of every CHECK constraint in the models."""
    return [
        (table.name, str(constraint.name), str(constraint.sqltext))
        for table in metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    ]


def test_the_models_check_constraints_have_the_text_the_migrations_created(migrated_url: str) -> None:
    """The drift check compares CHECK names only; this compares their text, on both backends.

    SQLite keeps the CREATE TABLE text. Postgres rewrites a condition (`kind IN (…)` comes back
    as `(kind)::text = ANY (…)`), so the models' text is added to a copy of the table and both
    are read back rewritten alike."""
    assert {name for _, name, _ in modelled_checks()} >= {
        "ck_users_role",
        "ck_wallets_kind",
        "ck_transfers_kind",
    }
    engine = create_engine(migrated_url)
    try:
        with engine.connect() as connection:
            for table, name, condition in modelled_checks():
                if connection.dialect.name == "sqlite":
                    created = connection.execute(
                        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table"),
                        {"table": table},
                    ).scalar_one()
                    assert re.search(rf"CONSTRAINT {name} CHECK \({re.escape(condition)}\)(,|\n)", created), (
                        name,
                        created,
                    )
                    continue
                connection.execute(text(f"CREATE TEMPORARY TABLE probe_{table} (LIKE {table})"))
                connection.execute(
                    text(f"ALTER TABLE probe_{table} ADD CONSTRAINT probe_{name} CHECK ({condition})")
                )
                created, modelled = (
                    connection.execute(
                        text(
                            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                            "WHERE conname = :name AND conrelid = CAST(:table AS regclass)"
                        ),
                        {"name": constraint, "table": relation},
                    ).scalar_one()
                    for constraint, relation in ((name, table), (f"probe_{name}", f"probe_{table}"))
                )
                assert created == modelled, name
                connection.execute(text(f"DROP TABLE probe_{table}"))
            connection.rollback()
    finally:
        engine.dispose()
