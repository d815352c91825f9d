"""The notification handler takes a batch of events in two transactions, whatever its size."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from gopherpayd.events.envelope import Event
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.kit.models import table_of
from gopherpayd.notifications.handler import NotificationHandler
from gopherpayd.notifications.models import Notification
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import EventType
from tests.support.api import Account


def received(user: Account, amount: int) -> Event:
    payload = {"amount": amount, "currency": "USD", "counterparty": "someone@example.com", "memo": None}
    return Event(uuid.uuid4(), EventType.TRANSFER_RECEIVED, user.user_id, None, utcnow(), payload)


@contextmanager
def counting_transactions(db: Database) -> Iterator[list[str]]:
    begun: list[str] = []

    def on_begin(_connection: object) -> None:
        begun.append("begin")

    event.listen(db.engine, "begin", on_begin)
    try:
        yield begun
    finally:
        event.remove(db.engine, "begin", on_begin)


def inbox_of(db: Database, user: Account) -> list[tuple[str, str]]:
    inbox = table_of(Notification).c
    query = select(inbox.event_id, inbox.body).where(inbox.user_id == uuid.UUID(user.user_id))
    with db.engine.connect() as connection:
        return sorted((row.event_id.hex, row.body) for row in connection.execute(query))


def test_a_batch_writes_one_inbox_entry_per_new_event_in_two_transactions(
    db: Database, settings: Settings, alice: Account, bob: Account
) -> None:
    handler = NotificationHandler(db, settings)
    already = received(alice, 100)
    assert handler.handle(already, "t").status == "handled"
    before = {user.email: inbox_of(db, user) for user in (alice, bob)}

    fresh = [received(alice if i % 2 else bob, 200 + i) for i in range(40)]
    batch = [(already, "t"), *[(e, "t") for e in fresh], (fresh[0], "t")]
    with counting_transactions(db) as begun:
        outcomes = handler.handle_many(batch)

    assert len(begun) == 2
    assert [o.status for o in outcomes] == ["duplicate", *["handled"] * 40, "duplicate"]
    for user in (alice, bob):
        mine = {e.id.hex for e in fresh if e.user_id == user.user_id}
        added = [entry for entry in inbox_of(db, user) if entry not in before[user.email]]
        assert sorted(event_id for event_id, _body in added) == sorted(mine)
    # Handled once: the same batch again is all duplicates and writes nothing.
    assert {o.status for o in handler.handle_many(batch)} == {"duplicate"}
    assert len(inbox_of(db, alice)) + len(inbox_of(db, bob)) == sum(len(v) for v in before.values()) + 40


def test_an_empty_batch_touches_no_database(db: Database, settings: Settings) -> None:
    with counting_transactions(db) as begun:
        assert NotificationHandler(db, settings).handle_many([]) == []
    assert begun == []
