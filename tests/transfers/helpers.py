"""Building blocks shared by the money-safety tests: people, money and operators."""

from __future__ import annotations

import functools
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

import psycopg

from gopherpayd.admin import service as admin_service
from gopherpayd.admin.schemas import CashMovementRequest
from gopherpayd.identity import service as identity_service
from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.transfers import engine
from gopherpayd.transfers.outcomes import Moved
from gopherpayd.vocabulary import Role
from tests.support.api import DEFAULT_PASSWORD, Account, Api
from tests.support.daemon import RunningDaemon, executable
from tests.support.databases import TEST_BCRYPT_ROUNDS

MakePrincipal = Callable[..., Principal]
Fund = Callable[..., None]
OperatorOf = Callable[[RunningDaemon], tuple[Api, Account]]
T = TypeVar("T")


def settings_for(database_url: str, data_dir: Path) -> Settings:
    """Daemon settings for tests that pick their database themselves."""
    return Settings(
        environment="test",
        database_url=database_url,
        data_dir=data_dir,
        jwt_secret="transfers-test-secret-" + "y" * 40,
        bcrypt_rounds=TEST_BCRYPT_ROUNDS,
    )


def create_principal(db: Database, settings: Settings, email: str, role: Role = Role.USER) -> Principal:
    """Create a user through the identity service and return them as an authenticated caller."""
    name = email.split("@")[0].title()
    user = db.run(
        lambda s: identity_service.create_user(s, settings, email, name, DEFAULT_PASSWORD, role=role)
    )
    return Principal(user_id=user.id, session_id=uuid.uuid4(), email=user.email, role=user.role)


def deposit(db: Database, operator: Principal, user: Principal, amount: int, currency: str = "USD") -> None:
    """Money in from the outside world, through the admin service and the engine."""
    body = CashMovementRequest(user=user.email, amount=amount, currency=currency, reason="test funding")
    movement = db.run(lambda s: admin_service.cash_movement(s, operator, "deposit", body, str(uuid.uuid4())))
    [result] = engine.execute(db, [movement])
    assert isinstance(result, Moved), result


def create_admin(daemon: RunningDaemon, email: str) -> None:
    """`gopherpayd create-admin --password-stdin`, with the daemon's own environment."""
    completed = subprocess.run(
        [executable("gopherpayd"), "create-admin", "--email", email, "--password-stdin"],
        input=DEFAULT_PASSWORD + "\n",
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert f"created admin {email}" in completed.stderr


# --- forcing an interleaving on Postgres ------------------------------------------------------

LOCK_WAIT_BOUND_SECONDS = 10.0
"""Generous: how long requests may take to reach the lock they are meant to queue on."""


def psycopg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")


def lock_waiters(postgres_url: str) -> int:
    """How many sessions of this database are waiting for a lock (a row, a unique key)."""
    with psycopg.connect(psycopg_url(postgres_url), autocommit=True) as connection:
        row = connection.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def wait_for_lock_waiters(postgres_url: str, expected: int) -> None:
    """Poll until `expected` sessions queue on a lock; fail after a generous bound."""
    give_up = time.monotonic() + LOCK_WAIT_BOUND_SECONDS
    while (waiting := lock_waiters(postgres_url)) < expected:
        assert time.monotonic() < give_up, f"{waiting} of {expected} sessions reached the lock"
        time.sleep(0.01)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds; fail after the same generous bound as the lock waits."""
    give_up = time.monotonic() + LOCK_WAIT_BOUND_SECONDS
    while not condition():
        assert time.monotonic() < give_up, f"gave up waiting until {what}"
        time.sleep(0.01)


@contextmanager
def holding_wallet_lock(postgres_url: str, wallet_id: str) -> Iterator[psycopg.Connection]:
    """A second connection holding the wallet's row lock (as a transfer or a close would).

    The caller commits or rolls back through the yielded connection; leaving the block
    rolls back whatever is still open.
    """
    with psycopg.connect(psycopg_url(postgres_url)) as connection:
        connection.execute("SELECT id FROM wallets WHERE id = %s FOR UPDATE", (wallet_id,))
        try:
            yield connection
        finally:
            connection.rollback()


class InThread(Generic[T]):
    """Runs `work` in a thread; `result()` waits for it (generous bound) and re-raises."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._outcome: list[T] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._outcome.append(self._work())
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            self._error.append(error)

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> T:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the work in the thread did not finish within 60 s"
        if self._error:
            raise self._error[0]
        return self._outcome[0]


def all_at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(slot)` in `count` threads released together by a barrier; results in slot order."""
    start_together = threading.Barrier(count, timeout=30)

    def run(slot: int) -> T:
        start_together.wait()
        return work(slot)

    threads = [InThread(functools.partial(run, slot)) for slot in range(count)]
    return [thread.result() for thread in threads]
