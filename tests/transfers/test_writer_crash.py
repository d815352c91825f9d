"""A SIGKILL of the daemon in the middle of a stream of batches.

Many clients send transfers with unique keys through a real `gopherpayd serve`, and the
daemon is killed while its writer commits batch after batch. Then, from SQL alone: every
transfer a client was told about (201) exists exactly once under its key; no request the
client was not told about is half-written (each transfer whole, with its entries, its
outbox events and its key's record, or nothing at all); and after a restart, retrying
every unanswered request with its own key ends with exactly one transfer per key, and
no money made or lost. Both backends: Postgres and the embedded SQLite file.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.api import Account, Api
from tests.support.daemon import RunningDaemon, run_daemon
from tests.transfers.helpers import OperatorOf
from tests.transfers.ledger import (
    MOVED,
    KeyRecord,
    key_records,
    ledger_problems,
    money_by_currency,
    transfers_by_memo,
    uid,
)

pytestmark = pytest.mark.slow

CLIENT_THREADS = 12
USERS = [f"crash{n}@example.com" for n in range(6)]
FUNDING = 1_000_000
ACKNOWLEDGED_BEFORE_KILL = 150
"""The kill comes once this many transfers were answered 201: batches are streaming by then."""
PROGRESS_BOUND_SECONDS = 120.0
"""Generous: how long the stream may go without a single answer before the test gives up."""


@dataclass(frozen=True)
class Request:
    key: str
    sender: str
    recipient: str
    amount: int

    def body(self) -> dict[str, object]:
        # The key as the memo too: SQL can then count the transfers made for each request.
        return {"amount": self.amount, "currency": "USD", "to_email": self.recipient, "memo": self.key}


@dataclass
class Stream:
    url: str
    accounts: dict[str, Account]
    sent: dict[str, Request] = field(default_factory=dict)
    acknowledged: dict[str, str] = field(default_factory=dict)
    """Key -> the transfer id its 201 answer named."""
    unanswered: list[Request] = field(default_factory=list)
    other_answers: list[tuple[Request, int, str]] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_answer: float = field(default_factory=time.monotonic)


def post(client: httpx.Client, account: Account, request: Request) -> httpx.Response:
    return client.post(
        "/v1/transfers",
        json=request.body(),
        headers={**account.headers, "Idempotency-Key": request.key},
    )


def send_until_the_daemon_dies(stream: Stream, thread: int) -> None:
    """Send transfers one after another until one gets no answer (the daemon is gone)."""
    rng = random.Random(9_100 + thread)  # noqa: S311 - test data
    try:
        with httpx.Client(base_url=stream.url, timeout=60.0) as client:
            for number in range(1_000_000):
                sender, recipient = rng.sample(USERS, 2)
                request = Request(f"crash-{thread}-{number}", sender, recipient, rng.randint(1, 500))
                with stream.lock:
                    stream.sent[request.key] = request
                try:
                    response = post(client, stream.accounts[sender], request)
                except httpx.HTTPError:
                    with stream.lock:
                        stream.unanswered.append(request)
                    return
                with stream.lock:
                    stream.last_answer = time.monotonic()
                    if response.status_code == MOVED:
                        stream.acknowledged[request.key] = uid(response.json()["id"])
                    else:
                        stream.other_answers.append((request, response.status_code, response.text))
    except BaseException as error:  # noqa: BLE001 - reported by the test's main thread
        stream.crashes.append(error)


def kill_mid_stream(daemon: RunningDaemon, stream: Stream) -> None:
    threads = [
        threading.Thread(target=send_until_the_daemon_dies, args=(stream, n)) for n in range(CLIENT_THREADS)
    ]
    for thread in threads:
        thread.start()
    while True:
        with stream.lock:
            acknowledged, quiet_for = len(stream.acknowledged), time.monotonic() - stream.last_answer
        if acknowledged >= ACKNOWLEDGED_BEFORE_KILL or stream.crashes or stream.other_answers:
            break
        assert quiet_for < PROGRESS_BOUND_SECONDS, f"no answer for {quiet_for:.0f}s ({acknowledged} so far)"
        assert daemon.process.poll() is None, daemon.log()[-3_000:]
        time.sleep(0.01)
    daemon.process.send_signal(signal.SIGKILL)
    assert daemon.process.wait(timeout=30) == -signal.SIGKILL
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a client thread never noticed the kill"
    assert stream.crashes == []
    assert stream.other_answers == []


def assert_every_acknowledged_transfer_exists_once_and_nothing_is_half_written(
    database_url: str, stream: Stream
) -> None:
    assert ledger_problems(database_url) == []
    by_memo = transfers_by_memo(database_url)
    records = key_records(database_url)
    for key, transfer_id in stream.acknowledged.items():
        sender = stream.accounts[stream.sent[key].sender]
        assert by_memo[key] == 1, key
        assert records[(sender.user_id, key)] == [KeyRecord(MOVED, transfer_id)], key
    for request in stream.unanswered:
        sender = stream.accounts[request.sender]
        record = records.get((sender.user_id, request.key))
        if by_memo[request.key] == 0:
            assert record is None, f"{request.key}: a record without its transfer"
        else:
            assert by_memo[request.key] == 1, request.key
            assert record is not None and [r.status for r in record] == [MOVED], request.key
    assert set(by_memo) <= set(stream.sent) | {"test funding"}


def assert_money_is_conserved(database_url: str) -> None:
    assert money_by_currency(database_url) == {"USD": (FUNDING * len(USERS), FUNDING * len(USERS))}


def crash_and_recover(
    data_dir: Path, database_url: str, daemon_database_url: str | None, operator_of: OperatorOf
) -> None:
    with run_daemon(data_dir, daemon_database_url, extra_args=["--log-level", "warning"]) as daemon:
        api, operator = operator_of(daemon)
        accounts = {email: api.signup(email) for email in USERS}
        for email in USERS:
            api.deposit(operator, email, FUNDING)
        stream = Stream(url=daemon.url, accounts=accounts)
        started = time.monotonic()
        kill_mid_stream(daemon, stream)
        streamed_for = time.monotonic() - started

    sent = {key: stream.sent[key] for key in [*stream.acknowledged, *(r.key for r in stream.unanswered)]}
    print(
        f"\nkilled after {streamed_for:.1f}s of streaming: {len(stream.acknowledged)} acknowledged, "
        f"{len(stream.unanswered)} unanswered, of which "
        f"{sum(transfers_by_memo(database_url)[r.key] for r in stream.unanswered)} committed anyway"
    )
    assert len(stream.unanswered) == CLIENT_THREADS  # each client had one request in flight
    assert_every_acknowledged_transfer_exists_once_and_nothing_is_half_written(database_url, stream)
    assert_money_is_conserved(database_url)

    with run_daemon(data_dir, daemon_database_url, extra_args=["--log-level", "warning"]) as daemon:
        with httpx.Client(base_url=daemon.url, timeout=60.0) as client:
            retried = [post(client, accounts[r.sender], r) for r in stream.unanswered]
            assert [r.status_code for r in retried] == [MOVED] * len(retried), [r.text for r in retried]
            again = [post(client, accounts[r.sender], r) for r in stream.unanswered]
            assert [(r.status_code, r.headers.get("Idempotency-Replayed")) for r in again] == [
                (MOVED, "true")
            ] * len(again)
            assert [r.json()["id"] for r in again] == [r.json()["id"] for r in retried]
            audit = Api(client).audit(operator)
            assert (audit["ok"], audit["violations"]) == (True, [])
        assert "Traceback" not in daemon.log(), daemon.log()[-5_000:]

    by_memo = transfers_by_memo(database_url)
    assert {key: by_memo[key] for key in sent} == dict.fromkeys(sent, 1)
    assert ledger_problems(database_url) == []
    assert_money_is_conserved(database_url)


def test_a_sigkill_mid_stream_loses_no_acknowledged_transfer_and_leaves_none_half_written_on_postgres(
    tmp_path: Path, private_postgres_url: str, operator_of: OperatorOf
) -> None:
    crash_and_recover(tmp_path / "daemon", private_postgres_url, private_postgres_url, operator_of)


def test_a_sigkill_mid_stream_loses_no_acknowledged_transfer_and_leaves_none_half_written_on_sqlite(
    tmp_path: Path, operator_of: OperatorOf
) -> None:
    data_dir = tmp_path / "daemon"
    crash_and_recover(data_dir, f"sqlite:///{data_dir / 'gopherpay.db'}", None, operator_of)
