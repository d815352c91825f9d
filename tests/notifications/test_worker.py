"""The worker takes Kafka messages in batches and delivers users side by side, each user in order.

A real Tansu broker carries the messages; the handler is a stand-in that records when each
event started and ended, so the tests see order, overlap and retries.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from gopherpayd.events.envelope import Event
from gopherpayd.kit.clock import utcnow
from gopherpayd.notifications.handler import Batch, Delivery, Outcome
from gopherpayd.notifications.worker import Worker, committable, group_by_user
from gopherpayd.outbox import catalog
from tests.conftest import make_settings
from tests.support.kafka import TansuBroker

PREFIX = "gp-worker"
GROUP = "gp-worker-test"
TOPIC = f"{PREFIX}.transfers"
DEADLINE = 90.0
"""Seconds to wait for the worker to get through its messages (a group join takes a few)."""


class RecordingHandler:
    """Stands in for NotificationHandler: takes `delay` per delivery, never does one twice."""

    def __init__(
        self, delay: float, fail_once: set[tuple[str, int]] | None = None, *, in_bulk: bool = False
    ) -> None:
        self.delay = delay
        self.in_bulk = in_bulk
        """Whether trigger_together delivers (as Novu's bulk trigger) or leaves all to deliver."""
        self.waves: list[list[tuple[str, int | None]]] = []
        """What each trigger_together call was given."""
        self.fail_once = set(fail_once or ())
        self.lock = threading.Lock()
        self.handled: list[tuple[str, int | None]] = []
        """(user, seq) of each event's one effect, in the order the effects happened."""
        self.attempts: list[tuple[str, int | None]] = []
        """(user, seq) of each delivery tried, in order."""
        self.active = 0
        self.most_active = 0
        self.seen: set[uuid.UUID] = set()
        self.lists: list[list[tuple[str, int | None]]] = []
        """What each open call (one per batch) was given."""

    def open(self, events: list[tuple[Event, str]]) -> Batch:
        """As NotificationHandler's: what was handled before is a duplicate, the rest waits for
        delivery."""
        with self.lock:
            self.lists.append([(event.user_id, event.user_seq) for event, _topic in events])
            outcomes: list[Outcome | None] = []
            deliveries: list[Delivery] = []
            for index, (event, topic) in enumerate(events):
                if event.id in self.seen:
                    outcomes.append(Outcome("duplicate"))
                else:
                    outcomes.append(None)
                    deliveries.append(Delivery(index, event, topic))
        return Batch(outcomes, deliveries)

    def trigger_together(self, deliveries: list[Delivery]) -> list[Delivery]:
        with self.lock:
            self.waves.append([(d.event.user_id, d.event.user_seq) for d in deliveries])
        if not self.in_bulk:
            return list(deliveries)
        time.sleep(self.delay)
        with self.lock:
            for delivery in deliveries:
                self.seen.add(delivery.event.id)
                self.handled.append((delivery.event.user_id, delivery.event.user_seq))
                delivery.outcome = Outcome("handled", attempts=1)
        return []

    def deliver(self, delivery: Delivery) -> Outcome:
        event = delivery.event
        with self.lock:
            self.attempts.append((event.user_id, event.user_seq))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.delay)
            with self.lock:
                if (event.user_id, event.user_seq) in self.fail_once:
                    self.fail_once.discard((event.user_id, event.user_seq))
                    raise ConnectionError("Novu went away")
                self.seen.add(event.id)
                self.handled.append((event.user_id, event.user_seq))
            delivery.outcome = Outcome("handled")
            return delivery.outcome
        finally:
            with self.lock:
                self.active -= 1

    def settle(self, batch: Batch) -> list[Outcome | None]:
        outcomes = list(batch.outcomes)
        for delivery in batch.deliveries:
            outcomes[delivery.index] = delivery.outcome
        return outcomes

    def count(self) -> int:
        with self.lock:
            return len(self.handled)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(tmp_path / "broker.log") as running:
        running.create_topics(PREFIX)
        yield running


def publish(broker: TansuBroker, users: list[str], per_user: int) -> None:
    """Each user's events 1..per_user, interleaved across users, keyed by user like the relay."""
    producer = Producer(broker.producer_config())
    for seq in range(1, per_user + 1):
        for user in users:
            event = Event(uuid.uuid4(), "transfer.received", user, seq, utcnow(), {"user_id": user})
            producer.produce(TOPIC, key=user.encode(), value=event.encode(), headers=event.headers())
    assert producer.flush(15) == 0


def run_worker(broker: TansuBroker, tmp_path: Path, handler: RecordingHandler, expected: int) -> None:
    """Run a worker until `handler` has seen `expected` events, then stop it."""
    settings = make_settings(
        "sqlite:///unused.db",
        tmp_path,
        kafka_bootstrap=broker.bootstrap,
        kafka_topic_prefix=PREFIX,
        kafka_group_id=GROUP,
        worker_concurrency=3,
    )
    worker = Worker(settings, handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        deadline = time.monotonic() + DEADLINE
        while handler.count() < expected and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
        thread.join(timeout=DEADLINE)
    assert not thread.is_alive()
    assert handler.count() == expected, handler.handled


def per_user(handled: list[tuple[str, int | None]]) -> dict[str, list[int | None]]:
    order: dict[str, list[int | None]] = {}
    for user, seq in handled:
        order.setdefault(user, []).append(seq)
    return order


def test_a_batch_of_several_users_is_delivered_side_by_side_with_each_users_order_kept(
    broker: TansuBroker, tmp_path: Path
) -> None:
    users = [f"user-{n}" for n in range(6)]
    publish(broker, users, 5)
    handler = RecordingHandler(delay=0.2)

    run_worker(broker, tmp_path, handler, expected=30)

    assert per_user(handler.handled) == {user: [1, 2, 3, 4, 5] for user in users}
    # One handler batch (one inbox and one marking transaction) per Kafka batch, whatever the
    # number of users in it: a batch held several users' events, each user's in their order.
    assert len(handler.lists) < 30
    assert any(len({user for user, _seq in given}) > 1 for given in handler.lists)
    for given in handler.lists:
        for seqs in per_user(given).values():
            assert seqs == sorted(seq or 0 for seq in seqs)
    # Users overlapped, never more of them than worker_concurrency.
    assert 2 <= handler.most_active <= 3
    assert len(handler.attempts) == 30  # nothing was handed over twice
    assert broker.group_offsets(GROUP, [TOPIC]).lag == 0  # the batches' offsets were committed


def test_in_bulk_each_wave_holds_one_event_per_user_and_the_waves_keep_each_users_order(
    broker: TansuBroker, tmp_path: Path
) -> None:
    users = [f"user-{n}" for n in range(6)]
    publish(broker, users, 5)
    handler = RecordingHandler(delay=0.05, in_bulk=True)

    run_worker(broker, tmp_path, handler, expected=30)

    assert per_user(handler.handled) == {user: [1, 2, 3, 4, 5] for user in users}
    assert handler.attempts == []  # nothing needed a one-by-one delivery
    assert all(len({user for user, _seq in wave}) == len(wave) for wave in handler.waves)
    assert len(handler.waves) < 30 and max(len(wave) for wave in handler.waves) > 1
    assert broker.group_offsets(GROUP, [TOPIC]).lag == 0


def test_a_failed_event_holds_back_its_users_later_events_until_it_is_retried(
    broker: TansuBroker, tmp_path: Path
) -> None:
    users = [f"user-{n}" for n in range(4)]
    publish(broker, users, 4)
    handler = RecordingHandler(delay=0.05, fail_once={("user-1", 2)})

    run_worker(broker, tmp_path, handler, expected=16)

    assert per_user(handler.handled) == {user: [1, 2, 3, 4] for user in users}
    tries = [seq for user, seq in handler.attempts if user == "user-1"]
    assert tries.count(2) >= 2  # failed, then redelivered after the rewind
    assert tries.index(3) > tries.index(2, tries.index(2) + 1)  # 3 only after 2's retry
    assert broker.group_offsets(GROUP, [TOPIC]).lag == 0


class FakeMessage:
    def __init__(self, key: bytes | None, partition: int, offset: int) -> None:
        self._key, self._partition, self._offset = key, partition, offset

    def key(self) -> bytes | None:
        return self._key

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


def test_offsets_are_committed_up_to_the_first_unfinished_message_of_each_partition() -> None:
    messages: list[Any] = [
        FakeMessage(b"ada", 0, 10),
        FakeMessage(b"bob", 0, 11),
        FakeMessage(b"ada", 0, 12),
        FakeMessage(b"cy", 1, 7),
        FakeMessage(None, 1, 8),
    ]
    # Bob's message failed: partition 0 commits past Ada's first only and rewinds to Bob's.
    offsets, rewinds = committable(messages, done={0, 2, 3, 4})
    assert offsets == [(TOPIC, 0, 11), (TOPIC, 1, 9)]
    assert [(m.partition(), m.offset()) for m in rewinds] == [(0, 11)]
    assert catalog.topic_for(PREFIX, "transfer.received") == TOPIC


def test_deliveries_are_grouped_by_user_in_batch_order() -> None:
    def delivery(index: int, user: str) -> Delivery:
        return Delivery(index, Event(uuid.uuid4(), "transfer.received", user, index, utcnow(), {}), TOPIC)

    batch = [
        delivery(0, "ada"),
        delivery(1, "bob"),
        delivery(2, "ada"),
        delivery(3, "cy"),
        delivery(4, "bob"),
    ]
    assert [[d.index for d in group] for group in group_by_user(batch)] == [[0, 2], [1, 4], [3]]
