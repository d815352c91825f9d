"""Logins under concurrency: the throttle holds for parallel guesses, and bcrypt holds no lock.

A login takes its attempt (counted as a failure until it succeeds) in a short
transaction before bcrypt runs, so guesses that arrive together cannot all pass the
count before any of them is recorded; and bcrypt runs outside any transaction, so on
SQLite a failed login (or a password change) no longer keeps the one write lock while it hashes.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gopherpayd.identity import passwords
from gopherpayd.identity import service as identity_service
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import Role
from tests.support.api import DEFAULT_PASSWORD, Account, Api
from tests.support.daemon import run_daemon
from tests.support.databases import create_postgres_database, drop_postgres_database

GUESSES = 24
FREE_FAILURES = 5
BACKOFF = 600
GATE_TIMEOUT = 20.0
"""Seconds the gate waits for every request at most; only a broken throttle gets near it."""


class BcryptGate:
    """Holds every password check until each request has either reached bcrypt or been answered
    without it: the interleaving in which guesses race hardest (all in flight at once)."""

    def __init__(self, requests: int) -> None:
        self.requests = requests
        self.checked = 0
        self.answered_without_check = 0
        self.condition = threading.Condition()

    def wrap(self, check: Callable[[str, str], bool]) -> Callable[[str, str], bool]:
        def gated(password: str, password_hash: str) -> bool:
            with self.condition:
                self.checked += 1
                self.condition.notify_all()
                self.condition.wait_for(self._all_accounted_for, timeout=GATE_TIMEOUT)
            return check(password, password_hash)

        return gated

    def answered(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            with self.condition:
                self.answered_without_check += 1
                self.condition.notify_all()

    def _all_accounted_for(self) -> bool:
        return self.checked + self.answered_without_check >= self.requests


def guess_in_parallel(url: str, email: str, guesses: int, gate: BcryptGate | None = None) -> list[int]:
    """`guesses` wrong passwords for `email`, released together; the status codes, sorted."""
    start = threading.Barrier(guesses)

    def guess(n: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as http:
            start.wait(timeout=30)
            response = http.post("/v1/auth/login", json={"email": email, "password": f"wrong-guess-{n}"})
        if gate is not None:
            gate.answered(response)
        return response.status_code

    with ThreadPoolExecutor(max_workers=guesses) as pool:
        return sorted(pool.map(guess, range(guesses)))


HELD_PASSWORD = "held-in-bcrypt"


def runs_while_held_in_bcrypt(
    monkeypatch: pytest.MonkeyPatch, hold: Callable[[], object], write: Callable[[], object]
) -> bool:
    """Run `hold` (a request that checks HELD_PASSWORD) until it is inside bcrypt, then `write`;
    True when `write` finished while `hold` was still held there."""
    inside, release = threading.Event(), threading.Event()
    check = passwords.verify_password

    def held(password: str, password_hash: str) -> bool:
        if password == HELD_PASSWORD:
            inside.set()
            release.wait(timeout=60)
        return check(password, password_hash)

    monkeypatch.setattr(passwords, "verify_password", held)
    holding = threading.Thread(target=hold)
    holding.start()
    writing = threading.Thread(target=write)
    try:
        assert inside.wait(timeout=10), "the request never reached bcrypt"
        writing.start()
        writing.join(timeout=10)
        return not writing.is_alive()
    finally:
        release.set()
        holding.join(timeout=60)
        if writing.ident is not None:
            writing.join(timeout=60)


@pytest.fixture
def hold_bcrypt(monkeypatch: pytest.MonkeyPatch) -> Callable[[], BcryptGate]:
    """From now on, password checks go through a gate for GUESSES requests."""

    def install() -> BcryptGate:
        gate = BcryptGate(GUESSES)
        monkeypatch.setattr(passwords, "verify_password", gate.wrap(passwords.verify_password))
        return gate

    return install


def test_parallel_wrong_guesses_are_checked_no_more_often_than_the_free_failures(
    serve_with: Callable[..., str], hold_bcrypt: Callable[[], BcryptGate]
) -> None:
    url = serve_with(login_failures_before_backoff=FREE_FAILURES, login_backoff_initial=BACKOFF)
    with httpx.Client(base_url=url, timeout=30) as http:
        Api(http).signup("carol@example.com")
    gate = hold_bcrypt()

    statuses = guess_in_parallel(url, "carol@example.com", GUESSES, gate)

    assert gate.checked == FREE_FAILURES
    assert statuses == [401] * FREE_FAILURES + [429] * (GUESSES - FREE_FAILURES)
    with httpx.Client(base_url=url, timeout=30) as http:
        right = http.post("/v1/auth/login", json={"email": "carol@example.com", "password": DEFAULT_PASSWORD})
    assert right.status_code == 429, right.text


def test_parallel_guesses_at_an_unknown_email_are_held_to_the_same_limit(
    serve_with: Callable[..., str], hold_bcrypt: Callable[[], BcryptGate]
) -> None:
    url = serve_with(login_failures_before_backoff=FREE_FAILURES, login_backoff_initial=BACKOFF)
    gate = hold_bcrypt()

    statuses = guess_in_parallel(url, "nobody@example.com", GUESSES, gate)

    assert gate.checked == FREE_FAILURES
    assert statuses == [401] * FREE_FAILURES + [429] * (GUESSES - FREE_FAILURES)


@contextmanager
def alice_with_money_and_bob(
    url: str, db: Database, settings: Settings
) -> Iterator[tuple[Api, Account, Account]]:
    """An operator, Alice with 10.00 USD and Bob, on the daemon at `url`."""
    admin_role = Role.ADMIN
    db.run(
        lambda s: identity_service.create_user(
            s, settings, "operator@example.com", "Operator", DEFAULT_PASSWORD, role=admin_role
        )
    )
    with httpx.Client(base_url=url, timeout=60) as http:
        api = Api(http)
        admin = api.login("operator@example.com")
        alice, bob = api.signup("alice@example.com"), api.signup("bob@example.com")
        api.deposit(admin, alice.email, 1_000)
        yield api, alice, bob


def test_a_transfer_commits_while_a_failed_login_is_inside_bcrypt(
    serve_with: Callable[..., str], db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = serve_with()
    with alice_with_money_and_bob(url, db, settings) as (api, alice, bob):
        wrong = {"email": bob.email, "password": HELD_PASSWORD}
        sent: list[httpx.Response] = []

        finished_while_held = runs_while_held_in_bcrypt(
            monkeypatch,
            hold=lambda: httpx.post(f"{url}/v1/auth/login", json=wrong, timeout=60),
            write=lambda: sent.append(api.transfer(alice, bob.email, 250)),
        )

        assert finished_while_held, "the transfer waited for a failed login's bcrypt"
        assert sent[0].status_code == 201, sent[0].text
        assert (api.balance(alice), api.balance(bob)) == (750, 250)


def test_a_transfer_commits_while_a_password_change_is_inside_bcrypt(
    serve_with: Callable[..., str], db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = serve_with()
    with alice_with_money_and_bob(url, db, settings) as (api, alice, bob):
        change = {"current_password": HELD_PASSWORD, "new_password": "a-new-password-1"}
        sent: list[httpx.Response] = []

        finished_while_held = runs_while_held_in_bcrypt(
            monkeypatch,
            hold=lambda: httpx.post(f"{url}/v1/me/password", json=change, headers=bob.headers, timeout=60),
            write=lambda: sent.append(api.transfer(alice, bob.email, 250)),
        )

        assert finished_while_held, "the transfer waited for a password change's bcrypt"
        assert sent[0].status_code == 201, sent[0].text
        assert (api.balance(alice), api.balance(bob)) == (750, 250)


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A database of its own for a real daemon (no other test's rows, counts or resets)."""
    name = f"gopherpay_login_race_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    yield create_postgres_database(name)
    drop_postgres_database(name)


@pytest.mark.slow
@pytest.mark.parametrize("round_number", range(3))
def test_parallel_guesses_against_a_real_daemon_on_postgres_never_exceed_the_limit(
    fresh_postgres: str, tmp_path: Path, round_number: int
) -> None:
    # Real bcrypt cost (the race window the throttle must close), real `gopherpayd serve`.
    with run_daemon(
        tmp_path / "daemon",
        fresh_postgres,
        GOPHERPAY_BCRYPT_ROUNDS="10",
        GOPHERPAY_LOGIN_FAILURES_BEFORE_BACKOFF=str(FREE_FAILURES),
        # A first backoff longer than the test: on a loaded machine the guesses may spread
        # over seconds, and a later one would then rightly be let through.
        GOPHERPAY_LOGIN_BACKOFF_INITIAL=str(BACKOFF),
    ) as daemon:
        email = f"target-{round_number}@example.com"
        with httpx.Client(base_url=daemon.url, timeout=60) as http:
            Api(http).signup(email)

        statuses = guess_in_parallel(daemon.url, email, GUESSES)

    assert statuses.count(401) <= FREE_FAILURES, statuses
    assert statuses == [401] * statuses.count(401) + [429] * (GUESSES - statuses.count(401)), statuses
