"""Many clients moving money at once through the real daemon on Postgres: no money is
made or lost, no balance goes negative, and every request gets a proper answer.

No deadline on the run as a whole: a loaded machine may take as long as it needs. The
test gives up only when no request has been answered for STALL_SECONDS, which no working
daemon comes near (speed is measured by bench/, never here)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gopherpayd.kit.db import Database
from tests.support.api import Account, Api
from tests.support.daemon import run_daemon
from tests.transfers.helpers import OperatorOf

pytestmark = pytest.mark.slow

CLIENT_THREADS = 16
TRANSFERS_PER_THREAD = 80
STALL_SECONDS = 120.0
"""The longest the load may go without a single answered request before the test gives up."""
DAEMON_WORKERS = 2

HOT = "hot@example.com"
"""The hot wallet: a merchant that takes part in well over half of all transfers."""
DEPOSITS = {
    "USD": {
        HOT: 200_000,
        "alice@example.com": 60_000,
        "bob@example.com": 60_000,
        "carol@example.com": 30_000,
        "dave@example.com": 2_000,  # sends far more than he has: refusals are certain
        "erin@example.com": 15_000,
    },
    "EUR": {"alice@example.com": 40_000, "erin@example.com": 5_000},
}
USERS = list(DEPOSITS["USD"])
EUR_SENDERS = [HOT, "alice@example.com", "bob@example.com", "erin@example.com"]
"""They open EUR wallets up front; carol and dave get theirs opened by the first EUR sent to them."""
MAX_AMOUNT = {"USD": 15_000, "EUR": 8_000}
DUELS = [
    ("alice@example.com", "bob@example.com"),
    ("bob@example.com", "alice@example.com"),
    (HOT, "carol@example.com"),
    ("carol@example.com", HOT),
]
"""Client threads 0-3: two pairs sending to each other at the same time, all the time."""


@dataclass(frozen=True)
class Attempt:
    sender: str
    recipient: str
    currency: str
    amount: int
    status: int | None
    """None when no HTTP answer came back at all."""
    code: str | None = None
    transfer_id: str | None = None
    echoed: tuple[Any, ...] | None = None
    """(sender, recipient, amount, currency) as the 201 body describes the transfer."""
    problem: str | None = None


@dataclass
class Load:
    url: str
    accounts: dict[str, Account]
    start_together: threading.Barrier
    attempts: list[Attempt] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_answer: float = field(default_factory=time.monotonic)
    """When a request last got an HTTP answer (time.monotonic())."""

    def record(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)
            if attempt.status is not None:
                self.last_answer = time.monotonic()

    def quiet_for(self) -> float:
        with self.lock:
            return time.monotonic() - self.last_answer


def pick_transfer(thread: int, rng: random.Random) -> tuple[str, str, str, int]:
    if thread < len(DUELS):
        sender, recipient = DUELS[thread]
        currency = "USD"
    else:
        currency = "EUR" if rng.random() < 0.15 else "USD"
        senders = EUR_SENDERS if currency == "EUR" else USERS
        if rng.random() < 0.5:
            other = rng.choice([u for u in USERS if u != HOT])
            to_hot = other in senders and rng.random() < 0.5
            sender, recipient = (other, HOT) if to_hot else (HOT, other)
        else:
            sender = rng.choice(senders)
            recipient = rng.choice([u for u in USERS if u != sender])
    return sender, recipient, currency, rng.randint(1, MAX_AMOUNT[currency])


def send_one(client: httpx.Client, load: Load, key: str, transfer: tuple[str, str, str, int]) -> Attempt:
    sender, recipient, currency, amount = transfer
    try:
        response = client.post(
            "/v1/transfers",
            json={"amount": amount, "currency": currency, "to_email": recipient},
            headers={**load.accounts[sender].headers, "Idempotency-Key": key},
        )
    except httpx.HTTPError as error:
        return Attempt(*transfer, status=None, problem=repr(error))
    try:
        body = response.json()
    except ValueError:
        return Attempt(*transfer, status=response.status_code, problem=response.text)
    if response.status_code != 201:
        return Attempt(*transfer, status=response.status_code, code=body.get("code"), problem=response.text)
    echoed = (body["sender"]["email"], body["recipient"]["email"], body["amount"], body["currency"])
    return Attempt(*transfer, status=201, transfer_id=body["id"], echoed=echoed)


def run_client(load: Load, thread: int) -> None:
    try:
        rng = random.Random(7_000 + thread)  # noqa: S311 - test data, not secrets
        with httpx.Client(base_url=load.url, timeout=30.0) as client:
            client.get("/healthz")  # connected before the start signal
            load.start_together.wait()
            for number in range(TRANSFERS_PER_THREAD):
                if load.stop.is_set():
                    return
                load.record(send_one(client, load, f"load-{thread}-{number}", pick_transfer(thread, rng)))
    except BaseException as error:  # noqa: BLE001 - reported by the test's main thread
        load.crashes.append(error)


def apply_load(load: Load) -> float:
    """Run every client thread to completion, or stop them all once answers stop coming for
    STALL_SECONDS; return the seconds it took."""
    threads = [threading.Thread(target=run_client, args=(load, n)) for n in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    load.start_together.wait()
    started = time.monotonic()
    with load.lock:
        load.last_answer = started
    while any(thread.is_alive() for thread in threads) and load.quiet_for() < STALL_SECONDS:
        time.sleep(0.2)
    load.stop.set()
    for thread in threads:
        thread.join(timeout=60)  # past the client timeout: the request in flight ends by then
    assert not any(thread.is_alive() for thread in threads), "client threads did not stop"
    return time.monotonic() - started


def expected_balances(attempts: list[Attempt]) -> dict[tuple[str, str], int]:
    """Per (user, currency): deposits + received - sent, from the 201 answers alone."""
    balances = {(user, "USD"): 0 for user in USERS} | {(user, "EUR"): 0 for user in EUR_SENDERS}
    for currency, by_user in DEPOSITS.items():
        for user, amount in by_user.items():
            balances[(user, currency)] += amount
    for attempt in attempts:
        if attempt.status == 201:
            balances[(attempt.sender, attempt.currency)] -= attempt.amount
            credited = (attempt.recipient, attempt.currency)
            balances[credited] = balances.get(credited, 0) + attempt.amount
    return balances


def user_balances(api: Api, operator: Account) -> dict[tuple[str, str], int]:
    response = api.client.get("/v1/admin/users", params={"limit": 200}, headers=operator.headers)
    assert response.status_code == 200, response.text
    return {
        (user["email"], wallet["currency"]): wallet["balance"]
        for user in response.json()["items"]
        if user["role"] == "user"
        for wallet in user["wallets"]
    }


def stored_transfer_ids(database_url: str) -> set[str]:
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(text("SELECT id FROM transfers WHERE kind = 'transfer'")).all()
    finally:
        database.dispose()
    return {str(row[0]) for row in rows}


def test_concurrent_transfers_conserve_money_and_every_request_gets_a_proper_answer(
    tmp_path: Path, private_postgres_url: str, operator_of: OperatorOf
) -> None:
    workers = ["--workers", str(DAEMON_WORKERS), "--log-level", "warning"]
    with run_daemon(tmp_path / "daemon", private_postgres_url, extra_args=workers) as daemon:
        api, operator = operator_of(daemon)
        accounts = {email: api.signup(email) for email in USERS}
        for email in EUR_SENDERS:
            opened = api.client.post("/v1/wallets", json={"currency": "EUR"}, headers=accounts[email].headers)
            assert opened.status_code == 201, opened.text
        for currency, by_user in DEPOSITS.items():
            for email, amount in by_user.items():
                api.deposit(operator, email, amount, currency)
        load = Load(
            url=daemon.url,
            accounts=accounts,
            start_together=threading.Barrier(CLIENT_THREADS + 1, timeout=30),
        )

        elapsed = apply_load(load)

        attempts = load.attempts
        statuses = Counter(a.status for a in attempts)
        print(
            f"\n{len(attempts)} transfer requests from {CLIENT_THREADS} client threads to "
            f"{DAEMON_WORKERS} daemon workers in {elapsed:.1f}s: {len(attempts) / elapsed:.0f} requests/s; "
            f"statuses {dict(sorted(statuses.items(), key=str))}, "
            f"refusal codes {dict(Counter(a.code for a in attempts if a.status != 201))}"
        )
        assert load.crashes == []
        assert len(attempts) == CLIENT_THREADS * TRANSFERS_PER_THREAD, (
            f"stopped: no answer for {STALL_SECONDS:.0f}s"
        )
        assert [a for a in attempts if a.status is None or a.status >= 500] == []
        assert [
            a
            for a in attempts
            if not (a.status == 201 or (a.status == 409 and a.code == "insufficient_funds"))
        ] == []
        assert statuses[201] > 0 and statuses[409] > 0
        assert [
            a
            for a in attempts
            if a.status == 201 and a.echoed != (a.sender, a.recipient, a.amount, a.currency)
        ] == []
        for sender, recipient in DUELS:
            assert any(a.status == 201 and (a.sender, a.recipient) == (sender, recipient) for a in attempts)

        audit = api.audit(operator)
        assert (audit["ok"], audit["violations"]) == (True, [])
        deposited = {currency: sum(by_user.values()) for currency, by_user in DEPOSITS.items()}
        assert {
            t["currency"]: (t["wallets_total"], t["deposits"], t["withdrawals"]) for t in audit["totals"]
        } == {currency: (total, total, 0) for currency, total in deposited.items()}
        balances = user_balances(api, operator)
        assert min(balances.values()) >= 0
        for currency, total in deposited.items():
            assert sum(amount for (_, c), amount in balances.items() if c == currency) == total
        assert balances == expected_balances(attempts)
        assert "Traceback" not in daemon.log(), daemon.log()[-5_000:]

    accepted = {a.transfer_id for a in attempts if a.status == 201}
    assert len(accepted) == statuses[201]
    assert stored_transfer_ids(private_postgres_url) == accepted
