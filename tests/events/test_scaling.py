"""Scaling out: two relays and two workers on one outbox and one consumer group."""

from __future__ import annotations

import zlib
from collections import Counter
from pathlib import Path

from tests.events.pipeline import EVENT_TOPICS, TRANSFERS_TOPIC, running_pipeline
from tests.support.kafka import DEFAULT_PARTITIONS
from tests.support.novu import BULK_TRIGGER_PATH, TRIGGER_PATH

TRANSFERS = 20


def partition_of(user_id: str) -> int:
    """Where the relay's producer puts a user's events (librdkafka's default: CRC32 of the key)."""
    return zlib.crc32(user_id.encode()) % DEFAULT_PARTITIONS


def test_two_relays_and_two_workers_deliver_every_event_once(tmp_path: Path) -> None:
    with running_pipeline(tmp_path, relays=2, workers=2) as pipeline:
        people = pipeline.people("Ada", "Bob", "Cy", "Dee")
        # People on every partition, so whichever partitions a worker is given, it has work.
        while {partition_of(person.user_id) for person in people} != set(range(DEFAULT_PARTITIONS)):
            assert len(people) < 40, "user ids that never land on some partition"
            people += pipeline.people(f"Person{len(people)}")

        for n in range(TRANSFERS):
            sender, recipient = people[n % len(people)], people[(n + 1 + n // 4) % len(people)]
            if sender is recipient:
                recipient = people[(n + 2) % len(people)]
            pipeline.transfer(sender, recipient, 50 + 77 * n, f"split {n}")

        pipeline.assert_delivered_exactly_once()
        # FOR UPDATE SKIP LOCKED: the two relays never published a row twice.
        records = [record for topic in EVENT_TOPICS for record in pipeline.broker.read_topic(topic)]
        published = Counter(record.header("event-id") for record in records)
        assert len(published) == len(pipeline.outbox()) and set(published.values()) == {1}
        assert {r.partition for r in records if r.topic == TRANSFERS_TOPIC} == set(range(DEFAULT_PARTITIONS))
        # Both workers triggered Novu (each logs its requests, bulk or single), and every request
        # the stand-in saw came from one of them: no trigger counted twice.
        paths = (f"POST {pipeline.novu.url}{TRIGGER_PATH} ", f"POST {pipeline.novu.url}{BULK_TRIGGER_PATH} ")
        requests = [sum(p.log().count(path) for path in paths) for p in pipeline.workers]
        seen = [call for call in pipeline.novu.calls if call.path in (TRIGGER_PATH, BULK_TRIGGER_PATH)]
        assert all(requests) and sum(requests) == len(seen), requests
        assert pipeline.novu.duplicates == []
        assert all(process.alive for process in [*pipeline.relays, *pipeline.workers])
        print(f"\nNovu requests per worker: {requests}")
