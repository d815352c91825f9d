"""Kafka plumbing: client configurations and topics, in one place."""

from __future__ import annotations

import logging
from typing import Any

from gopherpayd.outbox import catalog
from gopherpayd.settings import Settings

logger = logging.getLogger("gopherpayd.events")

MESSAGE_TIMEOUT_MS = 15_000
"""How long the producer keeps trying to deliver one message."""
FLUSH_TIMEOUT_SECONDS = MESSAGE_TIMEOUT_MS / 1000 + 5
"""Longer than the message timeout: after a flush every message is delivered or failed."""
TOPIC_PARTITIONS = 3
FETCH_WAIT_MAX_MS = 50
"""Longest time the broker holds a consumer's fetch open while it has nothing new."""


def _log_client_error(error: Any) -> None:
    logger.warning("Kafka: %s", error)


def _common(settings: Settings, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": client_id,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 2_000,
        "error_cb": _log_client_error,
        "log_level": 3,
    }


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        **_common(settings, "gopherpayd-relay"),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": MESSAGE_TIMEOUT_MS,
    }


def consumer_config(settings: Settings, client_id: str = "gopherpayd-worker") -> dict[str, Any]:
    return {
        **_common(settings, client_id),
        "group.id": settings.kafka_group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6_000,
        "heartbeat.interval.ms": 1_000,
        "max.poll.interval.ms": 300_000,
        # The broker answers a fetch when data arrives or after this wait, whichever is first;
        # a broker that does not wake waiting fetches (Tansu) would add its full wait to every
        # event's commit-to-delivery time at the default 500 ms.
        "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
    }


def make_producer(settings: Settings) -> Any:
    from confluent_kafka import Producer

    return Producer(producer_config(settings))


def ensure_topics(settings: Settings, timeout: float = 15.0) -> None:
    """Create the event and dead-letter topics if they do not exist yet."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "error_cb": _log_client_error})  # type: ignore[dict-item]
    wanted = [
        *catalog.all_topics(settings.kafka_topic_prefix),
        catalog.dead_letter_topic(settings.kafka_topic_prefix),
    ]
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [NewTopic(topic, TOPIC_PARTITIONS, 1) for topic in wanted if topic not in existing]
    if not missing:
        return
    for topic, future in admin.create_topics(missing, request_timeout=timeout).items():
        try:
            future.result()
            logger.info("created Kafka topic %s", topic)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise


def consumer_lag(settings: Settings, timeout: float = 5.0) -> int | None:
    """Messages on the event topics the worker group has not committed yet (None if unknown)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({**consumer_config(settings, "gopherpayd-status"), "error_cb": lambda _e: None})
    try:
        metadata = consumer.list_topics(timeout=timeout)
        partitions = [
            TopicPartition(topic, partition)
            for topic in catalog.all_topics(settings.kafka_topic_prefix)
            if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        ]
        committed = consumer.committed(partitions, timeout=timeout)
        lag = 0
        for position in committed:
            low, high = consumer.get_watermark_offsets(position, timeout=timeout)
            start = position.offset if position.offset >= 0 else low
            lag += max(high - start, 0)
        return lag
    except KafkaException:
        return None
    finally:
        consumer.close()
