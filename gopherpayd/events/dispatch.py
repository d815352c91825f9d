"""The two transports that carry outbox events to the notification handlers.

- `Relay` publishes committed outbox rows to Kafka (the worker consumes them).
- `InProcessDispatcher` hands them straight to the handlers inside `serve`,
  the embedded default's transport.

Both take rows the same way, in batches (one query claims up to `event_batch_size`
rows, one statement marks them), mark them only once they are safely handed on, and
re-drive dead letters an operator asked to replay. A commit that wrote events wakes
them (in this process directly, across processes through Postgres LISTEN); otherwise
they look again every `event_poll_interval` seconds.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlmodel import Session

from gopherpayd.events import repository
from gopherpayd.events.envelope import Event
from gopherpayd.events.wakeups import PostgresListener, wake_on_local_commits
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.notifications.handler import NotificationHandler
from gopherpayd.outbox import catalog
from gopherpayd.settings import Settings

logger = logging.getLogger("gopherpayd.events")


def in_user_order(events: list[tuple[Event, str]]) -> list[tuple[Event, str]]:
    """The batch with each user's events in their sequence order (users' relative order kept
    as claimed; events without a sequence number keep their claimed place among the user's)."""
    position = {id(pair): index for index, pair in enumerate(events)}
    return sorted(events, key=lambda pair: (pair[0].user_id, pair[0].user_seq or 0, position[id(pair)]))


def handed_on_in_order(events: list[tuple[Event, str]], acknowledged: set[uuid.UUID]) -> set[uuid.UUID]:
    """The acknowledged events up to each user's first unacknowledged one.

    A user's later event stays in the outbox with the one that failed, so what is marked
    is always a gap-free prefix of each user's events; the next round sends both again
    (a duplicate that the worker's record of handled event ids makes harmless).
    """
    blocked: set[str] = set()
    done: set[uuid.UUID] = set()
    for event, _topic in events:
        if event.user_id in blocked:
            continue
        if event.id in acknowledged:
            done.add(event.id)
        else:
            blocked.add(event.user_id)
    return done


class Dispatcher:
    """Moves events from the outbox to somewhere else until stopped."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.stopping = threading.Event()
        self._wakeup = threading.Event()

    def wake(self, user_ids: Iterable[str] = ("*",)) -> None:
        """Events committed: look at the outbox now instead of at the next poll."""
        self._wakeup.set()

    def hand_on(self, events: list[tuple[Event, str]]) -> set[uuid.UUID]:
        """Deliver (event, topic) pairs; return the ids that are safely handed on."""
        raise NotImplementedError

    def run_once(self) -> int:
        """One round: outbox rows, then replays. Returns how many events were handed on."""
        return self._drain_outbox() + self._replay_dead_letters()

    def run_forever(self) -> None:
        delay = self.settings.event_poll_interval
        while not self.stopping.is_set():
            # Cleared before the round: a commit during it makes the wait below return at once.
            self._wakeup.clear()
            try:
                moved = self.run_once()
                delay = self.settings.event_poll_interval
            except Exception as error:  # keep going: the next round retries the same rows
                logger.warning("event dispatch failed (%s: %s); retrying", type(error).__name__, error)
                delay = min(max(delay, 0.5) * 2, 10.0)
                # Backing off: new commits must not turn an outage into a tight retry loop.
                self.stopping.wait(delay)
                continue
            if moved == 0:
                self._wakeup.wait(delay)

    def stop(self) -> None:
        self.stopping.set()
        self._wakeup.set()

    def _drain_outbox(self) -> int:
        def claim(session: Session) -> list[tuple[Event, str]]:
            rows = repository.claim_unpublished(session, self.settings.event_batch_size)
            prefix = self.settings.kafka_topic_prefix
            return [(Event.of(row), catalog.topic_for(prefix, row.event_type)) for row in rows]

        def mark(session: Session, done: set[uuid.UUID]) -> None:
            repository.mark_published(session, done, utcnow())

        return self._move(claim, mark)

    def _replay_dead_letters(self) -> int:
        letter_of: dict[uuid.UUID, uuid.UUID] = {}

        def claim(session: Session) -> list[tuple[Event, str]]:
            letters = repository.claim_replays(session, self.settings.event_batch_size)
            letter_of.update({letter.event_id: letter.id for letter in letters})
            return [(Event.decode(letter.message.encode()), letter.topic) for letter in letters]

        def mark(session: Session, done: set[uuid.UUID]) -> None:
            repository.mark_replayed(session, [letter_of[event_id] for event_id in done], utcnow())

        return self._move(claim, mark)

    def _move(
        self,
        claim: Callable[[Session], list[tuple[Event, str]]],
        mark: Callable[[Session, set[uuid.UUID]], None],
    ) -> int:
        if self.db.is_sqlite:
            # SQLite has one writer at a time: holding the claim open while the
            # handlers (or Kafka) work would block every transfer. One dispatcher
            # per SQLite file, so nobody else takes the same rows meanwhile.
            events = in_user_order(self.db.run(claim))
            done = handed_on_in_order(events, self.hand_on(events)) if events else set()
            self.db.run(mark, done)
            return len(done)

        def claim_hand_on_mark(session: Session) -> int:
            # The claimed rows stay locked (FOR UPDATE SKIP LOCKED) until marked,
            # so several dispatchers never take the same row.
            events = in_user_order(claim(session))
            done = handed_on_in_order(events, self.hand_on(events)) if events else set()
            mark(session, done)
            return len(done)

        return self.db.run(claim_hand_on_mark, retries=2)


class InProcessDispatcher(Dispatcher):
    """The embedded default: no broker, the handlers run right here."""

    def __init__(self, db: Database, settings: Settings, handler: NotificationHandler) -> None:
        super().__init__(db, settings)
        self.handler = handler
        self._thread: threading.Thread | None = None

    def hand_on(self, events: list[tuple[Event, str]]) -> set[uuid.UUID]:
        self.handler.handle_many(events)  # handled, duplicate or parked: each is done with
        return {event.id for event, _topic in events}

    def start(self) -> None:
        wake_on_local_commits(self)
        self._thread = threading.Thread(target=self.run_forever, name="gopherpayd-dispatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        super().stop()
        if self._thread is not None:
            self._thread.join(timeout=10)


class Relay(Dispatcher):
    """Publishes outbox rows to Kafka; a row is marked only after the broker acknowledged it."""

    def __init__(self, db: Database, settings: Settings, producer_factory: Callable[[], Any]) -> None:
        super().__init__(db, settings)
        self._producer_factory = producer_factory
        self._producer: Any = None

    def run_forever(self) -> None:
        """Publish until stopped; on Postgres, every daemon's commit wakes the relay (LISTEN)."""
        listener = None if self.db.is_sqlite else PostgresListener(self.db.url, self)
        if listener is not None:
            listener.start()
        try:
            super().run_forever()
        finally:
            if listener is not None:
                listener.stop()

    def hand_on(self, events: list[tuple[Event, str]]) -> set[uuid.UUID]:
        from confluent_kafka import KafkaException

        from gopherpayd.events.kafka import FLUSH_TIMEOUT_SECONDS

        if self._producer is None:
            self._producer = self._producer_factory()
        acknowledged: set[uuid.UUID] = set()
        failures: list[str] = []

        def report(event_id: uuid.UUID) -> Callable[[Any, Any], None]:
            def on_delivery(error: Any, _message: Any) -> None:
                if error is None:
                    acknowledged.add(event_id)
                else:
                    failures.append(str(error))

            return on_delivery

        try:
            for event, topic in events:
                self._producer.produce(
                    topic,
                    key=event.user_id.encode(),
                    value=event.encode(),
                    headers=event.headers(),
                    on_delivery=report(event.id),
                )
                self._producer.poll(0)
            left = self._producer.flush(FLUSH_TIMEOUT_SECONDS)
        except (KafkaException, BufferError):
            # A fatal producer state (e.g. the broker lost its memory of us) is not
            # cured by retrying with the same producer: start a new one next round.
            logger.error("Kafka producer failed; a new one takes over", exc_info=True)
            self._producer = None
            raise
        if left or failures:
            logger.warning(
                "Kafka acknowledged %d of %d events (%d unflushed; %s); the rest stay in the outbox",
                len(acknowledged),
                len(events),
                left,
                failures[:1],
            )
        return acknowledged

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
            self._producer = None
