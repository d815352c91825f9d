"""A steady stream of transfers from client threads, each request timed, for tests that
change something (a logout, a freeze) while the writer is busy committing batches."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tests.support.api import Account

PROGRESS_BOUND_SECONDS = 120.0
"""Generous: how long the stream may go without a single answer before a test gives up."""
AMOUNT = 3


@dataclass(frozen=True)
class Attempt:
    sender: str
    started: float
    """time.monotonic() just before the request was sent."""
    status: int | None
    code: str | None


@dataclass
class TransferStream:
    """Client threads, each sending `sender` -> `recipient` transfers back to back until stopped."""

    lanes: list[tuple[Callable[[], httpx.Client], Account, str]]
    """(a client for this thread, the sender, the recipient's email)."""
    attempts: list[Attempt] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> TransferStream:
        self._threads = [threading.Thread(target=self._run, args=lane, daemon=True) for lane in self.lanes]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)
        assert not any(thread.is_alive() for thread in self._threads), "a stream thread did not stop"

    def _run(self, make_client: Callable[[], httpx.Client], sender: Account, recipient: str) -> None:
        try:
            client = make_client()
            for _ in itertools.count():
                if self._stop.is_set():
                    return
                started = time.monotonic()
                response = client.post(
                    "/v1/transfers",
                    json={"amount": AMOUNT, "currency": "USD", "to_email": recipient},
                    headers={**sender.headers, "Idempotency-Key": str(uuid.uuid4())},
                )
                code = response.json().get("code") if response.status_code >= 400 else None
                with self._lock:
                    self.attempts.append(Attempt(sender.email, started, response.status_code, code))
        except BaseException as error:  # noqa: BLE001 - reported by the test's main thread
            self.crashes.append(error)

    def snapshot(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def wait_for(self, condition: Callable[[list[Attempt]], bool], what: str) -> None:
        """Poll until `condition` holds of the attempts so far; fail only when answers stop coming."""
        seen, quiet_since = 0, time.monotonic()
        while not condition(attempts := self.snapshot()):
            assert not self.crashes, self.crashes
            if len(attempts) > seen:
                seen, quiet_since = len(attempts), time.monotonic()
            assert time.monotonic() - quiet_since < PROGRESS_BOUND_SECONDS, (
                f"no answer while waiting until {what}"
            )
            time.sleep(0.01)


def of(sender: Account, attempts: list[Attempt]) -> list[Attempt]:
    return [a for a in attempts if a.sender == sender.email]


def after(moment: float, attempts: list[Attempt]) -> list[Attempt]:
    return [a for a in attempts if a.started >= moment]


def answers(attempts: list[Attempt]) -> set[tuple[int | None, str | None]]:
    return {(a.status, a.code) for a in attempts}
