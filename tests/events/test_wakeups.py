"""Waking live streams from Postgres: a notification names one user or a batch of them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable

import psycopg

from gopherpayd.events.wakeups import PostgresListener, StreamHub, users_in
from gopherpayd.outbox.repository import NOTIFY_CHANNEL

WAIT = 60.0
"""Seconds a stream would wait without a wake-up: far longer than any wake-up takes."""


class RecordingHub(StreamHub):
    """A stream hub that also remembers every wake-up it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []
        self.changed = threading.Condition()

    def wake(self, user_ids: Iterable[str]) -> None:
        with self.changed:
            self.calls.append(list(user_ids))
            self.changed.notify_all()
        super().wake(self.calls[-1])

    def wait_for_call(self, call: list[str]) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: call in self.calls, timeout=WAIT), self.calls


def notify(postgres_url: str, payload: str) -> None:
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))


async def streams_woken_by(hub: StreamHub, users: list[str], wake: threading.Thread) -> float:
    """Seconds until every one of `users`' streams returned from its wait, once `wake` ran."""
    waits = [asyncio.create_task(hub.wait(user, WAIT)) for user in users]
    await asyncio.sleep(0.2)  # every stream is waiting before the notification goes out
    started = time.monotonic()
    wake.start()
    await asyncio.wait_for(asyncio.gather(*waits), WAIT / 2)
    return time.monotonic() - started


def test_a_payload_is_one_user_id_or_a_comma_separated_list() -> None:
    assert users_in("7f3a") == ["7f3a"]
    assert users_in("7f3a,b21c") == ["7f3a", "b21c"]
    assert users_in(" 7f3a , b21c ,") == ["7f3a", "b21c"]
    assert users_in("") == []


def test_one_notification_naming_two_users_wakes_both_their_streams(postgres_url: str) -> None:
    hub = RecordingHub()
    listener = PostgresListener(postgres_url, hub)
    listener.start()
    try:
        hub.wait_for_call(["*"])  # listening: it wakes everyone once it is connected
        sender = threading.Thread(target=notify, args=(postgres_url, "id1,id2"))
        took = asyncio.run(streams_woken_by(hub, ["id1", "id2"], sender))
        sender.join()
        hub.wait_for_call(["id1", "id2"])
        assert took < WAIT / 2
        # One user id alone, as a single commit sends it, still wakes that user.
        single = threading.Thread(target=notify, args=(postgres_url, "id3"))
        asyncio.run(streams_woken_by(hub, ["id3"], single))
        single.join()
        assert hub.calls[1:] == [["id1", "id2"], ["id3"]]
    finally:
        listener.stop()
        hub.stop()
