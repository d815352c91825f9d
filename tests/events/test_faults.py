"""Faults in the event pipeline: nothing lost and nothing doubled at Novu, whatever breaks.

Each test runs the real processes (see `pipeline.py`), breaks one part for real (stops the
broker, SIGKILLs the relay or the worker, makes the Novu stand-in fail), and then checks every
Novu trigger and inbox entry. Replays at the stand-in (a repeated idempotency key answered from
Novu's store, notifying nobody) are allowed only where the worker is killed; duplicates never.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.events.pipeline import (
    DEAD_LETTER_TOPIC,
    DELIVERY_TIMEOUT,
    EVENT_TOPICS,
    GROUP_ID,
    TRANSFERS_TOPIC,
    Pipeline,
    running_pipeline,
    wait_until,
)
from tests.support.novu import BULK_TRIGGER_PATH, TRIGGER_PATH, NovuCall

pytestmark = pytest.mark.slow


def report(what: str, pipeline: Pipeline, fault_started: float) -> None:
    now = time.monotonic()
    print(
        f"\n{what}: fault and recovery {now - fault_started:.1f} s, whole test {now - pipeline.started:.1f} s"
    )


def unpublished(pipeline: Pipeline) -> int:
    return sum(1 for *_, published_at in pipeline.outbox() if published_at is None)


def published_counts(pipeline: Pipeline) -> Counter[str | None]:
    """How often each event id was published on the event topics."""
    return Counter(
        record.header("event-id") for topic in EVENT_TOPICS for record in pipeline.broker.read_topic(topic)
    )


def attempts(calls: list[NovuCall]) -> list[tuple[str, int, str | None]]:
    """(path, status, idempotency key) of each request; a bulk trigger's key is the SDK's own,
    a random one, so it shows as None."""
    return [(c.path, c.status, None if c.path == BULK_TRIGGER_PATH else c.idempotency_key) for c in calls]


def trigger_calls(pipeline: Pipeline, transaction_id: str) -> list[NovuCall]:
    """The requests that carried this event: its bulk trigger, then its own ones."""
    return [call for call in pipeline.novu.calls if transaction_id in call.transaction_ids]


def test_transfers_go_on_while_the_broker_is_down_and_their_events_arrive_once_it_is_back(
    tmp_path: Path,
) -> None:
    with running_pipeline(tmp_path, persistent=True) as pipeline:
        ada, bob = pipeline.people("Ada", "Bob")
        for n in range(4):
            pipeline.transfer(ada, bob, 100 + n, f"before {n}")
        pipeline.wait_until_settled()

        fault_started = time.monotonic()
        pipeline.broker.stop()
        during: list[dict[str, Any]] = []
        while time.monotonic() - fault_started < 5:
            sender, recipient = (ada, bob) if len(during) % 2 else (bob, ada)
            during.append(pipeline.transfer(sender, recipient, 200 + len(during), "broker down"))
            time.sleep(0.3)
        assert len(during) >= 5
        # Their events wait in the outbox, and none reached Novu.
        assert unpublished(pipeline) == 2 * len(during)
        assert not any(t.payload.get("memo") == "broker down" for t in pipeline.novu.triggers)
        pipeline.broker.start()
        for n in range(4):
            pipeline.transfer(bob, ada, 300 + n, f"after {n}")

        pipeline.assert_delivered_exactly_once(timeout=90)
        assert pipeline.broker.starts == 2
        report("broker stopped for 5 s", pipeline, fault_started)


def test_a_relay_killed_between_publishing_a_batch_and_marking_it_republishes_and_nothing_doubles(
    tmp_path: Path,
) -> None:
    with running_pipeline(tmp_path) as pipeline:
        ada, bob = pipeline.people("Ada", "Bob")
        (relay,) = pipeline.relays
        relay.terminate()
        for n in range(8):
            pipeline.transfer(ada, bob, 500 + n, f"batch {n}")
        before = len(pipeline.novu.triggers)
        batch = {event_id for event_id, *_, published_at in pipeline.outbox() if published_at is None}
        assert len(batch) == 16

        fault_started = time.monotonic()
        with pipeline.connect() as blocker:
            # The relay can claim rows and publish them, but its UPDATE marking them published
            # waits for this lock: it is caught after Kafka acknowledged the batch.
            blocker.execute("LOCK TABLE outbox IN SHARE MODE")
            relay.start()
            pipeline.novu.wait_for_triggers(before + len(batch), timeout=DELIVERY_TIMEOUT)
            assert relay.kill() == -signal.SIGKILL
            blocker.rollback()
        # Kafka has the whole batch; the outbox still says none of it was published.
        assert published_counts(pipeline) & Counter(batch) == Counter(batch)
        assert unpublished(pipeline) == len(batch)

        relay.start()
        wait_until(
            "the batch to be published again",
            lambda: all(published_counts(pipeline)[event_id] == 2 for event_id in batch),
        )
        for n in range(3):
            pipeline.transfer(bob, ada, 700 + n, f"after {n}")

        pipeline.assert_delivered_exactly_once()
        # The whole batch went to Kafka twice; the worker handled each event once.
        again = published_counts(pipeline)
        assert {event_id: again[event_id] for event_id in batch} == {event_id: 2 for event_id in batch}
        report("relay SIGKILLed mid-batch", pipeline, fault_started)


def test_a_worker_killed_mid_batch_resumes_after_restart_and_nothing_doubles(tmp_path: Path) -> None:
    with running_pipeline(tmp_path) as pipeline:
        ada, bob = pipeline.people("Ada", "Bob")
        (worker,) = pipeline.workers
        pipeline.novu.latency = 0.2  # slow enough to catch the worker in the middle of its work
        before = len(pipeline.novu.triggers)
        for n in range(10):
            pipeline.transfer(ada, bob, 900 + n, f"batch {n}")

        pipeline.novu.wait_for_triggers(before + 5, timeout=DELIVERY_TIMEOUT)
        time.sleep(0.1)  # most likely inside the next Novu request
        fault_started = time.monotonic()
        assert worker.kill() == -signal.SIGKILL
        left = pipeline.broker.group_offsets(GROUP_ID, EVENT_TOPICS).lag
        assert left > 0, "the worker was killed with nothing left to do"
        pipeline.novu.latency = 0
        worker.start()
        pipeline.transfer(bob, ada, 1000, "after")

        pipeline.assert_delivered_exactly_once(timeout=90, crashed=True)
        print(
            f"\nworker killed with {left} messages uncommitted; {len(pipeline.novu.replays)} replays and "
            f"{len(pipeline.novu.duplicates)} duplicates at Novu"
        )
        report("worker SIGKILLed mid-batch", pipeline, fault_started)


def test_novu_failing_for_a_while_is_retried_with_backoff_and_each_event_is_delivered_once(
    tmp_path: Path,
) -> None:
    # 12 attempts wait 0.1 + 0.2 + 0.4 + 0.5 * 8 = 4.7 s in all: more than the outage.
    with running_pipeline(tmp_path, GOPHERPAY_DELIVERY_MAX_ATTEMPTS="12") as pipeline:
        ada, bob = pipeline.people("Ada", "Bob")
        fault_started = time.monotonic()
        pipeline.novu.fail_always(503)
        for n in range(3):
            pipeline.transfer(ada, bob, 1100 + n, f"outage {n}")
        wait_until("a delivery to run into the outage", lambda: pipeline.novu.failures)
        time.sleep(2.0)
        pipeline.novu.recover()

        pipeline.assert_delivered_exactly_once()
        # The worker delivers users side by side, each user's events in order: the first event
        # in line of each user took the whole outage, and no later event of theirs was tried.
        # Its first attempt was a bulk trigger (no idempotency key), the rest its own.
        failed = {event_id for call in pipeline.novu.failures for event_id in call.transaction_ids}
        user_of = {event_id: user for event_id, _type, user, _published in pipeline.outbox()}
        assert 1 <= len(failed) == len({user_of[event_id] for event_id in failed}) <= 2
        for event_id in failed:
            calls = trigger_calls(pipeline, event_id)
            tries = len(calls)
            assert attempts(calls) == [
                (BULK_TRIGGER_PATH, 503, None),
                *[(TRIGGER_PATH, 503, f"{event_id}:retry-{n}") for n in range(2, tries)],
                (TRIGGER_PATH, 201, f"{event_id}:retry-{tries}"),
            ]
            assert tries >= 4  # 2 s of failures: at least the attempts after 0, 0.1, 0.3, 0.7 s
            gaps = [
                b.received_monotonic - a.received_monotonic for a, b in zip(calls, calls[1:], strict=False)
            ]
            backoff = [min(0.1 * 2**n, 0.5) for n in range(len(gaps))]
            assert all(
                wanted * 0.95 <= gap < wanted + 1.0 for gap, wanted in zip(gaps, backoff, strict=True)
            ), gaps
        report("Novu failing for 2 s", pipeline, fault_started)


def test_an_event_novu_keeps_refusing_is_dead_lettered_and_a_replay_delivers_it_once(tmp_path: Path) -> None:
    with running_pipeline(tmp_path, GOPHERPAY_DELIVERY_MAX_ATTEMPTS="3") as pipeline:
        (ada, bob) = pipeline.people("Ada", "Bob")
        assert pipeline.admin is not None
        fault_started = time.monotonic()
        pipeline.novu.fail_always(503)
        deposit = pipeline.deposit(ada, 4_200)
        (letter,) = wait_until("a dead letter", pipeline.dead_letters)
        (parked,) = wait_until("the dead-letter topic", lambda: pipeline.broker.read_topic(DEAD_LETTER_TOPIC))
        pipeline.novu.recover()

        event_id = letter["event_id"]
        outbox = {id_: (type_, user) for id_, type_, user, _ in pipeline.outbox()}
        assert outbox[event_id] == ("wallet.deposit", ada.user_id)
        reason = "Novu answered HTTP 503 after 3 attempts"
        assert {k: v for k, v in letter.items() if k not in ("id", "created_at")} == {
            "event_id": event_id,
            "event_type": "wallet.deposit",
            "user_id": ada.user_id,
            "topic": TRANSFERS_TOPIC,
            "reason": "Novu answered HTTP 503",
            "attempts": 3,
            "replay_requested_at": None,
            "replayed_at": None,
        }
        assert attempts(trigger_calls(pipeline, event_id)) == [
            (BULK_TRIGGER_PATH, 503, None),
            (TRIGGER_PATH, 503, f"{event_id}:retry-2"),
            (TRIGGER_PATH, 503, f"{event_id}:retry-3"),
        ]
        assert (
            parked.key,
            parked.header("event-id"),
            parked.header("event-type"),
            parked.header("dead-letter-reason"),
            parked.header("original-topic"),
        ) == (ada.user_id.encode(), event_id, "wallet.deposit", reason, TRANSFERS_TOPIC)
        assert parked.json()["payload"]["transfer_id"] == deposit["id"]
        status = pipeline.status()
        assert (
            status["dead_letters"],
            status["dead_letters_awaiting_replay"],
            status["unhandled_events"],
        ) == (1, 0, 0)
        # The pipeline goes on meanwhile.
        pipeline.transfer(bob, ada, 1_500, "still flowing")
        pipeline.novu.wait_for_triggers(len(pipeline.expected) - 1, timeout=DELIVERY_TIMEOUT)
        assert event_id not in {t.transaction_id for t in pipeline.novu.triggers}

        replay = pipeline.client.post(
            "/v1/admin/events/dead-letters/replay",
            json={"reason": "Novu is back"},
            headers=pipeline.admin.headers,
        )
        assert (replay.status_code, replay.json()) == (202, {"requested": 1})

        pipeline.assert_delivered_exactly_once(dead_letters=1)
        (replayed,) = pipeline.dead_letters()
        assert replayed["id"] == letter["id"]
        assert replayed["replay_requested_at"] is not None and replayed["replayed_at"] is not None
        # Replayed as a fresh event: its first attempt again, in a bulk trigger.
        (delivered,) = [t for t in pipeline.novu.triggers if t.transaction_id == event_id]
        assert (delivered.workflow, delivered.subscriber_id) == ("deposit", ada.user_id)
        assert trigger_calls(pipeline, event_id)[-1].path == BULK_TRIGGER_PATH
        assert len(pipeline.broker.read_topic(DEAD_LETTER_TOPIC)) == 1
        report("Novu refusing one event, then a replay", pipeline, fault_started)
