"""`gopherpayd worker`: consume events from Kafka and hand them to the handlers.

An offset is committed only after its event was handled (or parked on the
dead-letter topic), so a crash means redelivery, and the handler's record of
processed event ids makes a redelivered event a no-op.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from gopherpayd.events.envelope import Event, UndecodableEvent
from gopherpayd.events.kafka import FLUSH_TIMEOUT_SECONDS, consumer_config, make_producer
from gopherpayd.notifications.handler import NotificationHandler
from gopherpayd.outbox import catalog
from gopherpayd.settings import Settings

logger = logging.getLogger("gopherpayd.notifications")
REASON_HEADER = "dead-letter-reason"
ORIGINAL_TOPIC_HEADER = "original-topic"


class Worker:
    def __init__(self, settings: Settings, handler: NotificationHandler) -> None:
        self.settings = settings
        self.handler = handler
        self.stopping = threading.Event()
        self._producer: Any = None

    def run_forever(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(consumer_config(self.settings))
        consumer.subscribe(catalog.all_topics(self.settings.kafka_topic_prefix))
        try:
            while not self.stopping.is_set():
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error():
                    logger.warning("Kafka: %s", message.error())
                    continue
                if self._handle(message):
                    self._commit(consumer, message)
                else:
                    self._rewind(consumer, message)
        finally:
            consumer.close()
            if self._producer is not None:
                self._producer.flush(5)

    def stop(self) -> None:
        self.stopping.set()

    def _handle(self, message: Any) -> bool:
        """True once the message needs no further work (handled, duplicate or parked)."""
        try:
            event = Event.decode(message.value())
        except UndecodableEvent as error:
            return self._to_dead_letter_topic(message, str(error))
        try:
            outcome = self.handler.handle(event, message.topic())
        except Exception as error:  # the database is away: try the same message again
            logger.warning("event %s not handled yet (%s); will retry", event.id, type(error).__name__)
            self.stopping.wait(1.0)
            return False
        if outcome.dead_lettered:
            reason = f"{outcome.reason} after {outcome.attempts} attempts"
            return self._to_dead_letter_topic(message, reason)
        return True

    def _to_dead_letter_topic(self, message: Any, reason: str) -> bool:
        if self._producer is None:
            self._producer = make_producer(self.settings)
        delivered: list[Any] = []
        headers = list(message.headers() or []) + [
            (REASON_HEADER, reason.encode()),
            (ORIGINAL_TOPIC_HEADER, message.topic().encode()),
        ]
        self._producer.produce(
            catalog.dead_letter_topic(self.settings.kafka_topic_prefix),
            key=message.key(),
            value=message.value(),
            headers=headers,
            on_delivery=lambda error, _m: delivered.append(error),
        )
        self._producer.flush(FLUSH_TIMEOUT_SECONDS)
        if delivered != [None]:
            logger.warning("could not park a message on the dead-letter topic: %s", delivered)
            return False
        logger.warning("parked an event on the dead-letter topic: %s", reason)
        return True

    def _commit(self, consumer: Any, message: Any) -> None:
        from confluent_kafka import KafkaException

        try:
            consumer.commit(message=message, asynchronous=False)
        except KafkaException as error:
            # Redelivery after this is harmless: the event is recorded as processed.
            logger.warning("offset commit failed (%s); the event may be delivered again", error)

    def _rewind(self, consumer: Any, message: Any) -> None:
        from confluent_kafka import TopicPartition

        consumer.seek(TopicPartition(message.topic(), message.partition(), message.offset()))
