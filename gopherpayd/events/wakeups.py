"""Waking live streams when a user's events commit, in this process and across daemons."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gopherpayd.outbox.repository import NOTIFY_CHANNEL

logger = logging.getLogger("gopherpayd.events")
STOP_CHECK_SECONDS = 0.1
"""How long the listener waits for a notification before checking whether it should stop:
short, because shutting a daemon down (or an app in a test) waits for it."""


class Wakeable(Protocol):
    """Something that waits for users' events: the stream hub, the outbox dispatchers."""

    def wake(self, user_ids: Iterable[str]) -> None:
        """`user_ids` may have new events ("*": anyone may)."""


def users_in(payload: str) -> list[str]:
    """The user ids of one notification: one id, or a comma-separated list (one per batch)."""
    return [user_id for user_id in (part.strip() for part in payload.split(",")) if user_id]


def wake_on_local_commits(target: Wakeable) -> None:
    """Wake `target` whenever a transaction of this process commits events (held weakly)."""
    _WAKEABLES.add(target)


class StreamHub:
    """Streams wait here for their user's next event; anyone may wake them.

    The hub also counts each user's open streams (a per-process cap) and tells every
    stream to end when the daemon shuts down.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._open: dict[str, int] = {}
        self.stopping = False
        wake_on_local_commits(self)

    def wake(self, user_ids: Iterable[str]) -> None:
        wanted = set(user_ids)
        with self._lock:
            if "*" in wanted:
                waiting = [w for waiters in self._waiters.values() for w in waiters]
            else:
                waiting = [w for user_id in wanted for w in self._waiters.get(user_id, ())]
        for loop, flag in waiting:
            loop.call_soon_threadsafe(flag.set)

    def stop(self) -> None:
        """End every stream (the daemon is shutting down); new waits return at once."""
        self.stopping = True
        self.wake(["*"])

    async def wait(self, user_id: str, timeout: float) -> None:
        """Return when `user_id` may have a new event, or after `timeout` seconds."""
        if self.stopping:
            return
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.setdefault(user_id, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.get(user_id, set()).discard(waiter)

    def open_stream(self, user_id: str, limit: int) -> bool:
        """Count a new stream of `user_id`, unless they already hold `limit` of them."""
        with self._lock:
            if self._open.get(user_id, 0) >= limit:
                return False
            self._open[user_id] = self._open.get(user_id, 0) + 1
            return True

    def close_stream(self, user_id: str) -> None:
        with self._lock:
            left = self._open.get(user_id, 0) - 1
            if left > 0:
                self._open[user_id] = left
            else:
                self._open.pop(user_id, None)

    def open_streams(self, user_id: str) -> int:
        with self._lock:
            return self._open.get(user_id, 0)


_WAKEABLES: weakref.WeakSet[Wakeable] = weakref.WeakSet()


@event.listens_for(Session, "after_commit")
def _wake_local_waiters(session: Session) -> None:
    users = session.info.pop("wake_users", None)
    if users:
        for target in list(_WAKEABLES):
            target.wake(users)


@event.listens_for(Session, "after_rollback")
def _forget_wakeups(session: Session) -> None:
    session.info.pop("wake_users", None)


class PostgresListener:
    """LISTENs for events committed by any daemon on this database and wakes the hub.

    A notification's payload names the users whose events committed: one user id, or a
    comma-separated list of them (one notification per committed batch).
    """

    def __init__(self, database_url: str, hub: Wakeable) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._hub = hub
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gopherpayd-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    delay = 0.5
                    self._hub.wake(["*"])  # anything missed while reconnecting
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=STOP_CHECK_SECONDS):
                            self._hub.wake(users_in(notice.payload))
            except psycopg.Error as error:
                logger.warning("event listener lost its connection (%s); reconnecting", type(error).__name__)
                self._stop.wait(delay)
                delay = min(delay * 2, 10)
