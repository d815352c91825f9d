"""`gopherpayd worker`: consume events from Kafka and hand them to the handlers.

The worker takes whatever Kafka has fetched, up to `event_batch_size` messages, writes
their inbox entries in one transaction, delivers them to Novu in bulk across users (a
user's first events of the batch in one bulk request, then their second ones, ...; what a
bulk request did not deliver goes one at a time with retries, at most `worker_concurrency`
at once) so that each user's events stay in order (the user is the message key), and marks
them handled in one more transaction.

Offsets are committed only after the whole batch was handled (or parked on the
dead-letter topic), and only up to the first message of each partition that is not
done yet, so a crash means redelivery, and the handler's record of processed event
ids makes a redelivered event a no-op.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gopherpayd.events.envelope import Event, UndecodableEvent
from gopherpayd.events.kafka import FLUSH_TIMEOUT_SECONDS, consumer_config, make_producer
from gopherpayd.notifications.handler import Delivery, NotificationHandler
from gopherpayd.notifications.novu import BULK_LIMIT
from gopherpayd.outbox import catalog
from gopherpayd.settings import Settings

logger = logging.getLogger("gopherpayd.notifications")
REASON_HEADER = "dead-letter-reason"
ORIGINAL_TOPIC_HEADER = "original-topic"
WAIT_SECONDS = 0.5
"""How long the worker waits for a first message before it checks whether it should stop."""


def group_by_user(deliveries: Sequence[Delivery]) -> list[list[Delivery]]:
    """The deliveries split into one list per user (the message key), each in batch order."""
    groups: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        groups.setdefault(delivery.event.user_id, []).append(delivery)
    return list(groups.values())


def committable(messages: Sequence[Any], done: set[int]) -> tuple[list[tuple[str, int, int]], list[Any]]:
    """Per partition: the offset to commit (one past the last message of the done prefix), and
    the first message that is not done (where to rewind).

    `done` holds the indexes, in `messages`, of the messages that need no further work.
    Returns ([(topic, partition, next offset)], [first undone message per partition]).
    """
    commits: dict[tuple[str, int], int] = {}
    rewinds: dict[tuple[str, int], Any] = {}
    for index, message in enumerate(messages):
        where = (message.topic(), message.partition())
        if where in rewinds:
            continue
        if index in done:
            commits[where] = message.offset() + 1
        else:
            rewinds[where] = message
    return [(topic, partition, offset) for (topic, partition), offset in commits.items()], list(
        rewinds.values()
    )


class Worker:
    def __init__(self, settings: Settings, handler: NotificationHandler) -> None:
        self.settings = settings
        self.handler = handler
        self.stopping = threading.Event()
        self._producer: Any = None
        self._producer_lock = threading.Lock()
        self.after_round: Callable[[], None] = lambda: None
        """Called after each poll of Kafka and the batch it brought (liveness for /healthz)."""

    def run_forever(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(consumer_config(self.settings))
        consumer.subscribe(catalog.all_topics(self.settings.kafka_topic_prefix))
        pool = ThreadPoolExecutor(self.settings.worker_concurrency, thread_name_prefix="gopherpayd-deliver")
        try:
            while not self.stopping.is_set():
                messages = self._next_batch(consumer)
                if messages:
                    self.handle_batch(consumer, messages, pool)
                self.after_round()
        finally:
            pool.shutdown(wait=True)
            consumer.close()
            if self._producer is not None:
                self._producer.flush(5)

    def stop(self) -> None:
        self.stopping.set()

    def _next_batch(self, consumer: Any) -> list[Any]:
        """Wait for one message, then take whatever else is already fetched, without waiting:
        a lone event is not held back to fill a batch."""
        first = consumer.consume(1, WAIT_SECONDS)
        if not first:
            return []
        rest = (
            consumer.consume(self.settings.event_batch_size - 1, 0)
            if self.settings.event_batch_size > 1
            else []
        )
        messages = []
        for message in [*first, *rest]:
            if message.error():
                logger.warning("Kafka: %s", message.error())
            else:
                messages.append(message)
        return messages

    def handle_batch(self, consumer: Any, messages: Sequence[Any], pool: ThreadPoolExecutor) -> None:
        """Handle one batch: its inbox entries in one transaction, Novu for users side by side
        (each user's events in order), the marks in one transaction; then commit what is done
        and rewind the rest."""
        finished = self._handle(messages, pool)
        offsets, rewinds = committable(messages, {index for index, done in enumerate(finished) if done})
        self._commit(consumer, offsets)
        for message in rewinds:
            self._rewind(consumer, message)

    def _handle(self, messages: Sequence[Any], pool: ThreadPoolExecutor) -> list[bool]:
        """For each message, True once it needs no further work (handled, duplicate or parked)."""
        finished = [False] * len(messages)
        decoded: list[tuple[int, Event, str]] = []
        for index, message in enumerate(messages):
            try:
                decoded.append((index, Event.decode(message.value()), message.topic()))
            except UndecodableEvent as error:
                finished[index] = self._to_dead_letter_topic(message, str(error))
        if not decoded:
            return finished
        try:
            batch = self.handler.open([(event, topic) for _index, event, topic in decoded])
            self._deliver_side_by_side(batch.deliveries, pool)
            outcomes = self.handler.settle(batch)
        except Exception as error:  # the database is away: try the same messages again
            logger.warning("%d events not handled yet (%s); will retry", len(decoded), type(error).__name__)
            self.stopping.wait(1.0)
            return finished
        for (index, _event, _topic), outcome in zip(decoded, outcomes, strict=True):
            if outcome is None:
                continue  # its delivery broke off: redelivered after the rewind, its user's later ones too
            if outcome.dead_lettered:
                reason = f"{outcome.reason} after {outcome.attempts} attempts"
                finished[index] = self._to_dead_letter_topic(messages[index], reason)
            else:
                finished[index] = True
        return finished

    def _deliver_side_by_side(self, deliveries: list[Delivery], pool: ThreadPoolExecutor) -> None:
        """In waves: each user's first delivery, then each one's second, and so on. A wave goes
        to Novu in bulk (one request per BULK_LIMIT users, side by side); what the bulk did not
        deliver goes one by one with its retries, at most `worker_concurrency` at once, before
        the next wave, so each user's events stay in order. A user whose delivery broke off
        (an unexpected error) has no place in later waves."""
        groups = group_by_user(deliveries)
        for depth in range(max((len(group) for group in groups), default=0)):
            wave = [
                group[depth]
                for group in groups
                if depth < len(group) and (depth == 0 or group[depth - 1].outcome is not None)
            ]
            chunks = [wave[start : start + BULK_LIMIT] for start in range(0, len(wave), BULK_LIMIT)]
            left: list[Delivery] = []
            for chunk, future in [(c, pool.submit(self.handler.trigger_together, c)) for c in chunks]:
                try:
                    left.extend(future.result())
                except Exception as error:
                    logger.warning(
                        "a bulk delivery broke off (%s); its events will be retried", type(error).__name__
                    )
                    left.extend(delivery for delivery in chunk if delivery.outcome is None)
            for one in [pool.submit(self._deliver_one, delivery) for delivery in left]:
                one.result()

    def _deliver_one(self, delivery: Delivery) -> None:
        try:
            self.handler.deliver(delivery)
        except Exception as error:
            delivery.outcome = None
            logger.warning("delivery broke off (%s); the user's events will be retried", type(error).__name__)

    def _dead_letter_producer(self) -> Any:
        with self._producer_lock:
            if self._producer is None:
                self._producer = make_producer(self.settings)
            return self._producer

    def _to_dead_letter_topic(self, message: Any, reason: str) -> bool:
        producer = self._dead_letter_producer()
        delivered: list[Any] = []
        headers = list(message.headers() or []) + [
            (REASON_HEADER, reason.encode()),
            (ORIGINAL_TOPIC_HEADER, message.topic().encode()),
        ]
        producer.produce(
            catalog.dead_letter_topic(self.settings.kafka_topic_prefix),
            key=message.key(),
            value=message.value(),
            headers=headers,
            on_delivery=lambda error, _m: delivered.append(error),
        )
        producer.flush(FLUSH_TIMEOUT_SECONDS)
        if delivered != [None]:
            logger.warning("could not park a message on the dead-letter topic: %s", delivered)
            return False
        logger.warning("parked an event on the dead-letter topic: %s", reason)
        return True

    def _commit(self, consumer: Any, offsets: list[tuple[str, int, int]]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        if not offsets:
            return
        try:
            consumer.commit(
                offsets=[TopicPartition(topic, partition, offset) for topic, partition, offset in offsets],
                asynchronous=False,
            )
        except KafkaException as error:
            # Redelivery after this is harmless: the events are recorded as processed.
            logger.warning("offset commit failed (%s); events may be delivered again", error)

    def _rewind(self, consumer: Any, message: Any) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        try:
            consumer.seek(TopicPartition(message.topic(), message.partition(), message.offset()))
        except KafkaException as error:
            # The partition went to another worker meanwhile: it resumes from the committed offset.
            logger.warning("could not rewind %s[%d] (%s)", message.topic(), message.partition(), error)
