"""The Tansu broker the event tests run against: topics, keyed idempotent produce, group commits, restarts."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Message, Producer

from tests.support.kafka import MotoS3, TansuBroker, topic_names


def produce(broker: TansuBroker, topic: str, records: list[tuple[str, str, dict[str, object]]]) -> None:
    """Publish (key, event id, payload) records and insist that the broker acknowledged each."""
    failures: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error)

    producer = Producer(broker.producer_config())
    for key, event_id, payload in records:
        producer.produce(
            topic,
            key=key.encode(),
            value=json.dumps(payload).encode(),
            headers=[("event-id", event_id.encode())],
            on_delivery=on_delivery,
        )
    assert producer.flush(10) == 0
    assert failures == []


def consume_and_commit(broker: TansuBroker, group: str, topic: str, count: int) -> list[Message]:
    """Join group, take count messages, commit each synchronously after 'handling' it, leave."""
    consumer = Consumer(broker.consumer_config(group))
    consumer.subscribe([topic])
    taken: list[Message] = []
    deadline = time.monotonic() + 15
    try:
        while len(taken) < count and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            assert message.error() is None, message.error()
            taken.append(message)
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    assert len(taken) == count, f"got {len(taken)} of {count} messages within 15 s"
    return taken


def test_a_keyed_event_with_its_id_header_reaches_a_group_consumer_that_commits_it(tmp_path: Path) -> None:
    with TansuBroker(tmp_path / "broker.log") as broker:
        assert broker.create_topics("gp") == ["gp.transfers", "gp.identity", "gp.wallets", "gp.dead-letters"]
        assert broker.create_topics("gp") == topic_names("gp")  # a second run changes nothing
        assert {name: n for name, n in broker.partitions().items() if name.startswith("gp.")} == {
            name: 3 for name in topic_names("gp")
        }
        event_id = str(uuid.uuid4())
        produce(broker, "gp.transfers", [("user-7", event_id, {"type": "transfer.sent", "amount": 1250})])

        (message,) = consume_and_commit(broker, "notifications", "gp.transfers", 1)

        assert message.key() == b"user-7"
        assert message.headers() == [("event-id", event_id.encode())]
        assert json.loads(message.value() or b"") == {"type": "transfer.sent", "amount": 1250}
        (record,) = broker.read_topic("gp.transfers")
        assert (record.key, record.header("event-id"), record.json()["amount"]) == (b"user-7", event_id, 1250)
        offsets = broker.group_offsets("notifications", ["gp.transfers"])
        assert (offsets.committed_total, offsets.lag) == (1, 0)


def test_the_persistent_broker_keeps_unconsumed_messages_and_committed_offsets_across_a_sigkill(
    tmp_path: Path,
) -> None:
    with MotoS3(tmp_path / "moto.log") as s3, TansuBroker(tmp_path / "broker.log", storage=s3) as broker:
        broker.create_topics("gp")
        # One key: one partition, so the group's committed offset splits old from new records.
        produce(broker, "gp.identity", [("user-1", f"evt-{n}", {"n": n}) for n in range(3)])
        consume_and_commit(broker, "notifications", "gp.identity", 1)
        before = broker.group_offsets("notifications", ["gp.identity"])
        assert (before.committed_total, before.lag) == (1, 2)
        port = broker.port

        broker.stop(kill=True)
        broker.start()

        assert broker.port == port and broker.starts == 2
        assert broker.partitions()["gp.identity"] == 3
        after = broker.group_offsets("notifications", ["gp.identity"])
        assert (after.committed, after.lag) == (before.committed, 2)
        resumed = consume_and_commit(broker, "notifications", "gp.identity", 2)
        assert [json.loads(m.value() or b"")["n"] for m in resumed] == [1, 2]
        assert broker.group_offsets("notifications", ["gp.identity"]).lag == 0
