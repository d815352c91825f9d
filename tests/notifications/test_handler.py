"""The notification handler takes a batch of events in two transactions, whatever its size, and
triggers Novu in bulk, falling back to one event at a time for what a bulk request did not deliver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, select

from gopherpayd.events.envelope import Event
from gopherpayd.events.models import DeadLetter
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.kit.models import table_of
from gopherpayd.notifications.handler import NotificationHandler, Outcome
from gopherpayd.notifications.models import Notification
from gopherpayd.notifications.novu import NovuGateway
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import EventType
from tests.conftest import make_settings
from tests.support.api import Account
from tests.support.novu import BULK_TRIGGER_PATH, TRIGGER_PATH, NovuStandIn

NOVU_SECRET = "novu-secret-for-handler-tests"


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


@pytest.fixture
def stand_in() -> Iterator[NovuStandIn]:
    with NovuStandIn(NOVU_SECRET) as server:
        yield server


def novu_handler(
    db: Database, tmp_path: Path, stand_in: NovuStandIn, sleeps: list[float]
) -> NotificationHandler:
    settings = make_settings(
        db.url, tmp_path, novu_secret_key=NOVU_SECRET, novu_server_url=stand_in.url, delivery_max_attempts=3
    )
    return NotificationHandler(db, settings, NovuGateway(settings), sleep=sleeps.append)


def bulk_calls(stand_in: NovuStandIn) -> list[int]:
    return [call.status for call in stand_in.calls if call.path == BULK_TRIGGER_PATH]


def single_calls(stand_in: NovuStandIn) -> list[str | None]:
    return [call.idempotency_key for call in stand_in.calls if call.path == TRIGGER_PATH]


def test_users_events_go_to_novu_in_one_bulk_request_and_are_each_triggered_once(
    db: Database, tmp_path: Path, stand_in: NovuStandIn, alice: Account, bob: Account
) -> None:
    sleeps: list[float] = []
    handler = novu_handler(db, tmp_path, stand_in, sleeps)
    events = [received(alice, 100), received(bob, 200)]

    batch = handler.open([(event, "t") for event in events])
    left = handler.trigger_together(batch.deliveries)
    outcomes = handler.settle(batch)

    assert left == []
    assert outcomes == [Outcome("handled", attempts=1)] * 2
    assert bulk_calls(stand_in) == [201] and single_calls(stand_in) == []
    assert sorted(t.transaction_id for t in stand_in.triggers) == sorted(str(e.id) for e in events)
    assert sleeps == []


def test_what_a_failed_bulk_request_did_not_deliver_goes_one_by_one_after_its_backoff(
    db: Database, tmp_path: Path, stand_in: NovuStandIn, alice: Account, bob: Account
) -> None:
    sleeps: list[float] = []
    handler = novu_handler(db, tmp_path, stand_in, sleeps)
    events = [received(alice, 100), received(bob, 200)]
    stand_in.fail_next(1, 503, path=BULK_TRIGGER_PATH)

    batch = handler.open([(event, "t") for event in events])
    left = handler.trigger_together(batch.deliveries)
    assert [d.event.id for d in left] == [e.id for e in events]
    for delivery in left:
        handler.deliver(delivery)
    outcomes = handler.settle(batch)

    # The bulk request was the first attempt: each event's single trigger is its second,
    # under the retry's key, after the first backoff.
    assert outcomes == [Outcome("handled", attempts=2)] * 2
    assert bulk_calls(stand_in) == [503]
    assert sorted(single_calls(stand_in)) == sorted(f"{e.id}:retry-2" for e in events)
    assert len(stand_in.triggers) == 2 and stand_in.duplicates == []
    assert len(sleeps) == 2


def test_an_event_novu_refused_in_bulk_is_retried_alone_and_parked_when_it_keeps_failing(
    db: Database, tmp_path: Path, stand_in: NovuStandIn, alice: Account, bob: Account
) -> None:
    sleeps: list[float] = []
    handler = novu_handler(db, tmp_path, stand_in, sleeps)
    taken, refused = received(alice, 100), received(bob, 200)
    stand_in.refuse_in_bulk({str(refused.id)})
    stand_in.fail_always(500, path=TRIGGER_PATH)

    batch = handler.open([(taken, "t"), (refused, "t")])
    left = handler.trigger_together(batch.deliveries)
    assert [d.event.id for d in left] == [refused.id]
    handler.deliver(left[0])
    outcomes = handler.settle(batch)

    assert outcomes[0] == Outcome("handled", attempts=1)
    assert outcomes[1] is not None and outcomes[1].dead_lettered and outcomes[1].attempts == 3
    assert [t.transaction_id for t in stand_in.triggers] == [str(taken.id)]
    assert single_calls(stand_in) == [f"{refused.id}:retry-2", f"{refused.id}:retry-3"]
    assert len(sleeps) == 2
    # Settled: the taken one is marked handled, the refused one is parked as a dead letter.
    letters = table_of(DeadLetter).c
    with db.engine.connect() as connection:
        parked = connection.execute(select(letters.event_id, letters.attempts)).all()
    assert [(row.event_id, row.attempts) for row in parked] == [(refused.id, 3)]
    assert {o.status for o in handler.handle_many([(taken, "t")])} == {"duplicate"}
