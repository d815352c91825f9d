"""The relay publishes the outbox in batches: one claim and one mark per batch, each user's order kept."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from gopherpayd.events.dispatch import Relay, handed_on_in_order
from gopherpayd.events.envelope import Event
from gopherpayd.events.kafka import make_producer
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.outbox.models import OutboxEvent
from gopherpayd.settings import Settings
from tests.conftest import make_settings
from tests.support.kafka import TansuBroker

PREFIX = "gp-relay"
USERS = 4
EVENTS_PER_USER = 113
BATCH = 100


class CountingRelay(Relay):
    """The real relay, remembering how many events each round handed to Kafka."""

    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(db, settings, lambda: make_producer(settings))
        self.batches: list[int] = []

    def hand_on(self, events: list[tuple[Event, str]]) -> set[uuid.UUID]:
        self.batches.append(len(events))
        return super().hand_on(events)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(tmp_path / "broker.log") as running:
        running.create_topics(PREFIX)
        yield running


def write_backlog(db: Database, users: list[str]) -> None:
    """EVENTS_PER_USER events per user, interleaved across users as commits would leave them.

    The first user's first two events carry inverted timestamps (two commits whose clocks
    disagree with their lock order): the sequence number, not the clock, orders a user.
    """
    start = utcnow()

    def write(session: Session) -> None:
        for seq in range(1, EVENTS_PER_USER + 1):
            for index, user in enumerate(users):
                created = start + timedelta(milliseconds=seq)
                if index == 0 and seq in (1, 2):
                    created = start + timedelta(milliseconds=3 - seq)
                session.add(
                    OutboxEvent(
                        event_type="transfer.received",
                        aggregate_key=user,
                        user_seq=seq,
                        payload=json.dumps({"user_id": user, "n": seq}),
                        created_at=created,
                    )
                )

    db.run(write)


def test_a_backlog_goes_out_in_few_batches_with_each_users_events_in_order(
    db: Database, broker: TansuBroker, tmp_path: Path
) -> None:
    settings = make_settings(
        db.url,
        tmp_path,
        kafka_bootstrap=broker.bootstrap,
        kafka_topic_prefix=PREFIX,
        event_batch_size=BATCH,
    )
    users = [str(uuid.uuid4()) for _ in range(USERS)]
    write_backlog(db, users)
    relay = CountingRelay(db, settings)
    try:
        moved = []
        while published := relay.run_once():
            moved.append(published)
    finally:
        relay.close()

    total = USERS * EVENTS_PER_USER
    full, rest = divmod(total, BATCH)
    assert relay.batches == [BATCH] * full + [rest]
    assert moved == relay.batches
    unpublished = db.run(
        lambda s: s.exec(select(OutboxEvent.id).where(col(OutboxEvent.published_at).is_(None))).all()
    )
    assert unpublished == []

    records = broker.read_topic(f"{PREFIX}.transfers")
    assert len({record.header("event-id") for record in records}) == len(records) == total
    by_user: dict[str, list[int]] = {}
    for record in records:  # (partition, offset) order: a user's events share a partition
        assert record.key is not None
        by_user.setdefault(record.key.decode(), []).append(record.json()["user_seq"])
    assert by_user == {user: list(range(1, EVENTS_PER_USER + 1)) for user in users}


def test_only_a_gap_free_prefix_of_each_users_events_counts_as_handed_on() -> None:
    def event(user: str, seq: int) -> tuple[Event, str]:
        return Event(uuid.uuid4(), "transfer.sent", user, seq, utcnow()), "t"

    ada = [event("ada", n) for n in (1, 2, 3)]
    bob = [event("bob", n) for n in (1, 2)]
    batch = [ada[0], bob[0], ada[1], bob[1], ada[2]]
    # The broker acknowledged all but Ada's second event.
    acknowledged = {e.id for e, _ in batch} - {ada[1][0].id}
    assert handed_on_in_order(batch, acknowledged) == {ada[0][0].id, bob[0][0].id, bob[1][0].id}
