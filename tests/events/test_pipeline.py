"""End to end through the real processes: transfers become Novu triggers and inbox entries, once each.

`gopherpayd serve` writes outbox rows, `gopherpayd relay` publishes them to a Tansu broker,
`gopherpayd worker` writes the inbox and triggers Novu (the stand-in, through novu-py).
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime

from tests.events.pipeline import EVENT_TOPICS, Pipeline

TRANSFERS = 20
MEMOS = ["rent", None, "café ☕", "pizza night", "🎉 birthday"]


def test_every_transfer_reaches_both_parties_once_through_relay_and_worker(pipeline: Pipeline) -> None:
    ada, bob, cy = people = pipeline.people("Ada", "Bob", "Cy")
    warm = len(pipeline.novu.triggers)

    transfers = []
    for n in range(TRANSFERS):
        sender, recipient = people[n % 3], people[(n + 1 + n // 3) % 3]
        if sender is recipient:
            recipient = people[(n + 2) % 3]
        transfers.append(pipeline.transfer(sender, recipient, 101 + 1234 * n, MEMOS[n % len(MEMOS)]))

    triggers = pipeline.assert_delivered_exactly_once()
    new = triggers[warm:]
    assert Counter(t.workflow for t in new) == {"transfer-sent": TRANSFERS, "transfer-received": TRANSFERS}
    for transfer in transfers:
        mine = [t for t in new if t.payload["transfer_id"] == transfer["id"]]
        assert sorted((t.workflow, t.subscriber_id) for t in mine) == [
            ("transfer-received", transfer["recipient"]["user_id"]),
            ("transfer-sent", transfer["sender"]["user_id"]),
        ]
    assert {a.email: pipeline.api.balance(a) for a in people} == {
        a.email: pipeline.balances[a.user_id] for a in (ada, bob, cy)
    }
    # The relay published every event once (nothing was retried here).
    published = Counter(
        record.header("event-id") for topic in EVENT_TOPICS for record in pipeline.broker.read_topic(topic)
    )
    assert set(published.values()) == {1} and len(published) == len(pipeline.outbox())
    status = pipeline.status()
    assert {k: status[k] for k in ("outbox_backlog", "unhandled_events", "dead_letters", "transport")} == {
        "outbox_backlog": 0,
        "unhandled_events": 0,
        "dead_letters": 0,
        "transport": "kafka",
    }

    committed = {t["id"]: datetime.fromisoformat(t["created_at"]) for t in transfers}
    latencies = sorted((t.received_at - committed[t.payload["transfer_id"]]).total_seconds() for t in new)
    print(
        f"\ncommit -> Novu trigger latency over {len(latencies)} triggers of {TRANSFERS} transfers: "
        f"median {statistics.median(latencies) * 1000:.0f} ms, worst {latencies[-1] * 1000:.0f} ms, "
        f"best {latencies[0] * 1000:.0f} ms"
    )
    assert latencies[0] > 0
