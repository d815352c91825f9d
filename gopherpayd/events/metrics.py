"""The event pipeline's gauges, computed when Prometheus scrapes: the same figures as
`GET /v1/admin/events/status` (outbox backlog and its oldest age, events not yet handled,
consumer lag, dead letters). A scrape costs a few counting queries and, with Kafka, one
look at the group's committed offsets; a request costs nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from gopherpayd.events import operations
from gopherpayd.events.kafka import consumer_lag
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings

logger = logging.getLogger("gopherpayd.metrics")
LAG_TIMEOUT = 2.0
"""Seconds a scrape waits for the broker's offsets before it reports the lag as unknown."""


class EventsCollector(Collector):
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("gopherpay_events_status_up", "1 when the event figures below could be read.")
        lag = consumer_lag(self.settings, LAG_TIMEOUT) if self.settings.uses_kafka else None
        try:
            status = self.db.run(operations.status, self.settings.uses_kafka, lag)
        except Exception as error:
            logger.warning("metrics: the event figures could not be read: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _gauge("gopherpay_outbox_backlog", "Outbox events not yet published.", status.outbox_backlog)
        yield _gauge(
            "gopherpay_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox event (0 when there is none).",
            status.oldest_unpublished_age_seconds or 0.0,
        )
        yield _gauge(
            "gopherpay_events_unhandled",
            "Outbox events the notification handlers have not recorded as handled yet.",
            status.unhandled_events,
        )
        if status.consumer_lag is not None:
            yield _gauge(
                "gopherpay_kafka_consumer_lag",
                "Messages on the event topics the worker group has not committed yet.",
                status.consumer_lag,
            )
        yield _gauge("gopherpay_dead_letters", "Events parked as dead letters.", status.dead_letters)
        yield _gauge(
            "gopherpay_dead_letters_awaiting_replay",
            "Dead letters an operator asked to replay that are not replayed yet.",
            status.dead_letters_awaiting_replay,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
