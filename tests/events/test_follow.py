"""`gopherpay history --follow` through the real CLI, with two daemons on one Postgres database.

Bob follows his history through daemon A; Alice pays him through daemon B, so
each transfer reaches A's stream by Postgres LISTEN/NOTIFY. A TCP proxy in front
of A lets a test cut Bob's connection and keep A unreachable for a while; the
CLI must then resume where it left off (Last-Event-ID), printing every transfer
once, in order.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import Cli, Operator, run_gopherpayd, sign_up
from tests.events.live import BackgroundCli, TcpProxy, postgres_database
from tests.support.api import Account, Api
from tests.support.daemon import RunningDaemon, run_daemon

pytestmark = pytest.mark.e2e

SHARED_JWT_SECRET = "follow-test-secret-" + "f" * 40
"""Both daemons must accept each other's tokens, as replicas behind one address do."""
OPS_EMAIL, OPS_PASSWORD = "ops@example.com", "ops-password-1"
FOLLOWING = "Following new transfers from"
WITHIN = 1.0
"""Seconds from a transfer's 201 on daemon B to its line on the follower of daemon A."""
OUTAGE = 2.0
"""Seconds daemon A stays unreachable to the follower."""


@dataclass
class Replicas:
    a: RunningDaemon
    b: RunningDaemon
    proxy: TcpProxy
    """In front of A; the follower's only way in."""
    payments: Api
    """Through B."""
    alice: Account
    bob: Cli

    def pay_bob(self, amount: int) -> tuple[str, float, float]:
        """A transfer from Alice to Bob through daemon B: (its id, time sent, time answered)."""
        sent_at = time.monotonic()
        response = self.payments.transfer(self.alice, "bob@example.com", amount)
        answered_at = time.monotonic()
        assert response.status_code == 201, response.text
        return str(response.json()["id"]), sent_at, answered_at

    def follow(self) -> BackgroundCli:
        follower = BackgroundCli.start(self.bob, "--json", "history", "--follow")
        follower.wait_for_stderr(FOLLOWING, timeout=10)
        return follower


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database("follow"))
        a, b = (
            stack.enter_context(
                run_daemon(
                    tmp_path_factory.mktemp(f"gopherpayd-{name}"),
                    database_url,
                    GOPHERPAY_JWT_SECRET=SHARED_JWT_SECRET,
                )
            )
            for name in "ab"
        )
        created = run_gopherpayd(
            a, "create-admin", "--email", OPS_EMAIL, "--password-stdin", input=f"{OPS_PASSWORD}\n"
        )
        assert created.returncode == 0, created.transcript()
        proxy = TcpProxy(int(a.url.rsplit(":", 1)[1]))
        stack.callback(proxy.close)
        bob = Cli(tmp_path_factory.mktemp("home-bob"), proxy.url)
        sign_up(bob, "bob@example.com", "Bob Builder", "bob-password")
        http = stack.enter_context(httpx.Client(base_url=b.url, timeout=30))
        payments = Api(http)
        alice = payments.signup("alice@example.com", name="Alice Liddell")
        Operator(payments, OPS_EMAIL, OPS_PASSWORD).deposit(alice.email, 1_000_000)
        yield Replicas(a, b, proxy, payments, alice, bob)


def printed_ids(follower: BackgroundCli) -> list[str]:
    return [json.loads(line.text)["id"] for line in follower.stdout]


def test_a_transfer_through_one_daemon_reaches_the_follower_of_another_within_a_second(
    replicas: Replicas,
) -> None:
    follower = replicas.follow()
    try:
        from_answer, from_request = [], []
        for number in range(1, 6):
            transfer_id, sent_at, answered_at = replicas.pay_bob(100 * number)
            line = follower.wait_for_stdout_lines(number, timeout=5)[-1]
            assert json.loads(line.text)["id"] == transfer_id, follower.transcript()
            from_answer.append(line.at - answered_at)
            from_request.append(line.at - sent_at)
        print(
            f"\nfollow latency after the 201: median {statistics.median(from_answer) * 1000:.1f} ms, "
            f"worst {max(from_answer) * 1000:.1f} ms; after sending the request: median "
            f"{statistics.median(from_request) * 1000:.1f} ms, worst {max(from_request) * 1000:.1f} ms"
        )
        assert max(from_answer) < WITHIN, from_answer
        transfer = json.loads(follower.stdout[0].text)
        assert (transfer["amount"], transfer["direction"], transfer["sender"]["email"]) == (
            100,
            "in",
            "alice@example.com",
        )
        assert follower.interrupt() == 130, follower.transcript()  # Ctrl-C: 128 + SIGINT
        assert follower.stderr[-1].text == "Stopped following.", follower.transcript()
    finally:
        follower.stop()


def test_a_cut_connection_resumes_without_missing_or_repeating_a_transfer(replicas: Replicas) -> None:
    follower = replicas.follow()
    try:
        paid = [replicas.pay_bob(101)[0]]
        follower.wait_for_stdout_lines(1, timeout=5)

        replicas.proxy.cut()
        cut_at = time.monotonic()
        follower.wait_for_stderr("reconnecting", timeout=5)
        paid += [replicas.pay_bob(amount)[0] for amount in (102, 103, 104)]
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
        replicas.proxy.resume()
        reconnected = follower.wait_for_stderr("Reconnected", timeout=10)
        paid.append(replicas.pay_bob(105)[0])
        follower.wait_for_stdout_lines(len(paid), timeout=5)
        # A repeat would come right behind the last one, on the same connection.
        time.sleep(0.5)

        assert follower.interrupt() == 130, follower.transcript()  # Ctrl-C: 128 + SIGINT
        assert printed_ids(follower) == paid, follower.transcript()
        assert re.fullmatch(r"Reconnected; resuming after event \d+\.", reconnected.text), reconnected
        assert replicas.proxy.accepted >= 2
    finally:
        follower.stop()


def test_a_follower_stops_when_its_session_is_logged_out(replicas: Replicas, tmp_path: Path) -> None:
    carol = Cli(tmp_path / "home-carol", replicas.proxy.url)
    carol.home.mkdir()
    sign_up(carol, "carol@example.com", "Carol Danvers", "carol-password")
    follower = BackgroundCli.start(carol, "history", "--follow")
    try:
        follower.wait_for_stderr(FOLLOWING, timeout=10)
        logged_out = carol("logout")
        assert logged_out.returncode == 0, logged_out.transcript()
        status = follower.process.wait(timeout=20)
    finally:
        follower.stop()
    assert status == 3, follower.transcript()
    assert [line.text for line in follower.stderr[1:]] == [
        f"The daemon at {replicas.proxy.url} ended the stream; reconnecting.",
        f"Error: You are not logged in to {replicas.proxy.url}",
        "Run: gopherpay login",
    ], follower.transcript()


def test_a_follower_stops_when_its_password_is_changed_elsewhere(replicas: Replicas, tmp_path: Path) -> None:
    dave = Cli(tmp_path / "home-dave", replicas.proxy.url)
    dave.home.mkdir()
    sign_up(dave, "dave@example.com", "Dave Lister", "dave-password")
    follower = BackgroundCli.start(dave, "history", "--follow")
    try:
        follower.wait_for_stderr(FOLLOWING, timeout=10)
        elsewhere = replicas.payments.login("dave@example.com", "dave-password")  # through daemon B
        changed = replicas.payments.client.post(
            "/v1/me/password",
            json={"current_password": "dave-password", "new_password": "dave-new-password"},
            headers=elsewhere.headers,
        )
        assert changed.status_code == 204, changed.text
        status = follower.process.wait(timeout=20)
    finally:
        follower.stop()
    assert status == 3, follower.transcript()
    assert [line.text for line in follower.stderr[-3:]] == [
        f"The daemon at {replicas.proxy.url} ended the stream; reconnecting.",
        "Error: This session has been revoked; log in again",
        "Run: gopherpay login",
    ], follower.transcript()
    assert follower.stdout == [], follower.transcript()
