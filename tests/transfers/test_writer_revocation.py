"""Revocation while the writer is busy: a logout or a freeze lands in the middle of a stream
of batches, and once it has returned no new transfer of that session is accepted.

The stated bound (gopherpayd.identity.session_cache): a logout or a freeze made by this
process ends the session at once; one made by another daemon process within
GOPHERPAY_SESSION_CACHE_SECONDS. Money never leaves a frozen account: a movement that
reaches the engine after the freeze is refused there, whatever its caller's session
cache believed. Other people's transfers in the same batches carry on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.transfers.outcomes import Moved, MovementOutcome, Refused
from gopherpayd.transfers.writer import writer_for, writer_of
from gopherpayd.vocabulary import Role
from tests.support.api import Account, Api
from tests.support.daemon import RunningDaemon, run_daemon
from tests.transfers.helpers import (
    LOCK_WAIT_BOUND_SECONDS,
    InThread,
    OperatorOf,
    holding_wallet_lock,
    lock_waiters,
    wait_for_lock_waiters,
    wait_until,
)
from tests.transfers.streams import AMOUNT, Attempt, TransferStream, after, answers, of
from tests.transfers.test_engine import count, send

only_postgres = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

LANES_PER_SENDER = 3
FUNDING = 1_000_000
OUTCOME_BOUND_SECONDS = 60.0
FROZEN = (403, "account_frozen")
LOGGED_OUT = (401, "session_revoked")


@pytest.fixture
def carol(api: Api) -> Account:
    return api.signup("carol@example.com", name="Carol")


def principal_of(account: Account) -> Principal:
    """The caller as a daemon that authenticated them before the revocation still believes them."""
    return Principal(
        user_id=uuid.UUID(account.user_id),
        session_id=uuid.UUID(account.session_id),
        email=account.email,
        role=Role.USER,
    )


def stream_of(client: TestClient, *lanes: tuple[Account, str]) -> TransferStream:
    return TransferStream(
        [(lambda: client, sender, to) for sender, to in lanes for _ in range(LANES_PER_SENDER)]
    )


def transfers_from(db: Database, account: Account) -> int:
    return count(
        db,
        "transfers t JOIN wallets w ON w.id = t.from_wallet_id",
        "t.kind = 'transfer' AND w.owner_id = :owner",
        owner=uuid.UUID(account.user_id).hex if db.is_sqlite else account.user_id,
    )


def moved(outcomes: list[MovementOutcome]) -> int:
    return sum(isinstance(o, Moved) for o in outcomes)


def refusals(outcomes: list[MovementOutcome]) -> set[tuple[int, str]]:
    return {(o.refusal.status, o.refusal.code) for o in outcomes if isinstance(o, Refused)}


def test_after_a_logout_returns_no_transfer_of_that_session_is_accepted_while_batches_stream(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account, bob: Account, carol: Account
) -> None:
    api.deposit(admin, alice.email, FUNDING)
    api.deposit(admin, carol.email, FUNDING)

    with stream_of(client, (alice, bob.email), (carol, bob.email)) as stream:
        stream.wait_for(lambda a: len([x for x in of(alice, a) if x.status == 201]) >= 10, "alice's move")
        logout = client.post("/v1/auth/logout", headers=alice.headers)
        logged_out = time.monotonic()
        stream.wait_for(
            lambda a: (
                len(after(logged_out, of(alice, a))) >= 10 and len(after(logged_out, of(carol, a))) >= 10
            ),
            "both senders went on after the logout",
        )
    attempts = stream.attempts

    assert logout.status_code == 204, logout.text
    assert stream.crashes == []
    assert answers(after(logged_out, of(alice, attempts))) == {LOGGED_OUT}
    assert answers(of(alice, attempts)) == {(201, None), LOGGED_OUT}
    assert answers(of(carol, attempts)) == {(201, None)}
    accepted = len([a for a in of(alice, attempts) if a.status == 201])
    assert transfers_from(db, alice) == accepted
    assert api.balance(carol) == FUNDING - AMOUNT * len(of(carol, attempts))
    assert api.audit(admin)["ok"] is True


def test_after_a_freeze_returns_no_movement_moves_money_from_the_frozen_account_while_batches_stream(
    client: TestClient,
    db: Database,
    settings: Settings,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
    carol: Account,
) -> None:
    api.deposit(admin, alice.email, FUNDING)
    api.deposit(admin, carol.email, FUNDING)
    writer = writer_of(db, settings)

    with stream_of(client, (alice, bob.email), (carol, bob.email)) as stream:
        stream.wait_for(
            lambda a: len([x for x in of(alice, a) if x.status == 201]) >= 10, "alice's money moved"
        )
        freeze = client.post(
            f"/v1/admin/users/{alice.email}/freeze", json={"reason": "fraud review"}, headers=admin.headers
        )
        frozen_at = time.monotonic()
        # As from a daemon whose cache still believes alice: the writer takes them into its batches.
        believed = [writer.submit(send(principal_of(alice), bob.email, AMOUNT)) for _ in range(20)]
        stream.wait_for(
            lambda a: len(after(frozen_at, of(alice, a))) >= 10 and len(after(frozen_at, of(carol, a))) >= 10,
            "both senders went on after the freeze",
        )
    attempts = stream.attempts
    believed_outcomes = [f.result(OUTCOME_BOUND_SECONDS) for f in believed]

    assert freeze.status_code == 200, freeze.text
    assert stream.crashes == []
    assert answers(after(frozen_at, of(alice, attempts))) <= {FROZEN, LOGGED_OUT}
    assert (moved(believed_outcomes), refusals(believed_outcomes)) == (0, {FROZEN})
    assert answers(of(carol, attempts)) == {(201, None)}
    accepted = len([a for a in of(alice, attempts) if a.status == 201])
    assert transfers_from(db, alice) == accepted
    assert api.balance(carol) == FUNDING - AMOUNT * len(of(carol, attempts))
    assert api.audit(admin)["ok"] is True


@only_postgres
def test_a_freeze_while_batches_of_the_account_wait_on_its_wallet_lock_lets_none_of_the_queued_ones_move(
    client: TestClient,
    db: Database,
    settings: Settings,
    postgres_url: str,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
) -> None:
    """The first batch is past its first checks and waits on alice's wallet lock; a freeze
    that commits meanwhile refuses it too (the owner is checked again under lock), and
    everything queued behind it, before and after the freeze, is refused."""
    api.deposit(admin, alice.email, FUNDING)
    alice_wallet = client.get("/v1/wallets/USD", headers=alice.headers).json()["id"]
    writer = writer_for(db)
    queued_behind = 5

    with ExitStack() as held:
        held.enter_context(holding_wallet_lock(postgres_url, alice_wallet))
        first = InThread(lambda: api.transfer(alice, bob.email, AMOUNT))
        wait_for_lock_waiters(postgres_url, 1)
        authenticated_before = [
            InThread(lambda: api.transfer(alice, bob.email, AMOUNT)) for _ in range(queued_behind)
        ]
        wait_until(lambda: writer.pending == 1 + queued_behind, "the transfers queued behind the first batch")
        freeze = InThread(
            lambda: client.post(
                f"/v1/admin/users/{alice.email}/freeze",
                json={"reason": "fraud review"},
                headers=admin.headers,
            )
        )
        _wait_until_done_or_waiting(freeze, postgres_url)
        # A freeze that itself waits on the first batch must not wait on the test's lock too.
        freeze_overtook = freeze.done()
        if not freeze_overtook:
            held.close()
        assert freeze.result().status_code == 200
        believed: list[Future[MovementOutcome]] = [
            writer_of(db, settings).submit(send(principal_of(alice), bob.email, AMOUNT)) for _ in range(5)
        ]
        # Through the endpoint, whose session check is part of the batch: it queues behind
        # the first batch, which may still wait on the test's lock.
        after_freeze_call = InThread(lambda: api.transfer(alice, bob.email, AMOUNT))
    after_freeze = after_freeze_call.result()
    first_answer = first.result()
    queued = [t.result() for t in authenticated_before]
    believed_outcomes = [f.result(OUTCOME_BOUND_SECONDS) for f in believed]

    first_code = (first_answer.status_code, first_answer.json().get("code"))
    if freeze_overtook:
        # The freeze committed while the first batch waited for the wallet lock: the engine
        # reads the owner's frozen flag under the owner's row lock, after the wallet lock.
        assert first_code == FROZEN
    else:
        assert first_code in {(201, None), FROZEN}
    assert [(r.status_code, r.json()["code"]) for r in queued] == [FROZEN] * queued_behind
    assert (moved(believed_outcomes), refusals(believed_outcomes)) == (0, {FROZEN})
    assert (after_freeze.status_code, after_freeze.json()["code"]) == FROZEN
    first_moved = first_answer.status_code == 201
    print(
        f"\nthe freeze {'returned while' if freeze_overtook else 'waited until'} the first batch waited on "
        f"the wallet lock; that batch's transfer {'moved' if first_moved else 'was refused'}"
    )
    assert transfers_from(db, alice) == first_moved
    balance = api.client.get("/v1/admin/users", params={"limit": 50}, headers=admin.headers).json()["items"]
    [alice_row] = [u for u in balance if u["email"] == alice.email]
    assert [w["balance"] for w in alice_row["wallets"]] == [FUNDING - AMOUNT * first_moved]


def _wait_until_done_or_waiting(freeze: InThread[httpx.Response], postgres_url: str) -> None:
    give_up = time.monotonic() + LOCK_WAIT_BOUND_SECONDS
    while not freeze.done() and lock_waiters(postgres_url) < 2:
        assert time.monotonic() < give_up, "the freeze neither returned nor waited on a lock"
        time.sleep(0.01)


# --- across daemon processes: the cache's bound -----------------------------------------------

CACHE_SECONDS = 2.0


@pytest.fixture
def two_daemons(tmp_path: Path, private_postgres_url: str) -> Iterator[tuple[RunningDaemon, RunningDaemon]]:
    """Two `gopherpayd serve` processes on one Postgres, one data directory (one signing key)."""
    data_dir = tmp_path / "daemons"
    bound = str(CACHE_SECONDS)
    with (
        run_daemon(data_dir, private_postgres_url, GOPHERPAY_SESSION_CACHE_SECONDS=bound) as first,
        run_daemon(data_dir, private_postgres_url, GOPHERPAY_SESSION_CACHE_SECONDS=bound) as second,
    ):
        yield first, second
        assert "Traceback" not in first.log() + second.log()


@pytest.fixture
def clients_of() -> Iterator[Callable[[str], Callable[[], httpx.Client]]]:
    """Client factories for stream threads (one client a thread), closed afterwards."""
    made: list[httpx.Client] = []

    def factory(url: str) -> Callable[[], httpx.Client]:
        def make() -> httpx.Client:
            client = httpx.Client(base_url=url, timeout=60.0)
            made.append(client)
            return client

        return make

    yield factory
    for client in made:
        client.close()


@pytest.mark.slow
def test_a_revocation_by_one_daemon_ends_the_session_in_another_within_the_cache_bound(
    two_daemons: tuple[RunningDaemon, RunningDaemon],
    private_postgres_url: str,
    operator_of: OperatorOf,
    clients_of: Callable[[str], Callable[[], httpx.Client]],
) -> None:
    """Alice's transfers stream into the second daemon while the first logs her out, then
    (in a new session) freezes her. The second daemon accepts no transfer of the revoked
    session sent after the logout returned, and moves no money from the frozen account."""
    first, second = two_daemons
    api, operator = operator_of(first)
    alice, bob, carol = (api.signup(f"{name}@example.com") for name in ("alice", "bob", "carol"))
    api.deposit(operator, alice.email, FUNDING)
    api.deposit(operator, carol.email, FUNDING)
    to_second = clients_of(second.url)

    def stream(sender: Account) -> TransferStream:
        lanes = [(to_second, sender, bob.email), (to_second, carol, bob.email)]
        return TransferStream(lanes * LANES_PER_SENDER)

    def went_on_past(moment: float, sender: Account) -> Callable[[list[Attempt]], bool]:
        return lambda a: len(after(moment, of(sender, a))) >= 10 and len(after(moment, of(carol, a))) >= 10

    with stream(alice) as logout_stream:
        logout_stream.wait_for(
            lambda a: len(of(alice, a)) >= 10, "alice's transfers reached the second daemon"
        )
        assert api.client.post("/v1/auth/logout", headers=alice.headers).status_code == 204
        logged_out = time.monotonic()
        logout_stream.wait_for(went_on_past(logged_out + CACHE_SECONDS, alice), "the bound passed")
    again = api.login(alice.email)
    with stream(again) as freeze_stream:
        freeze_stream.wait_for(
            lambda a: len(of(again, a)) >= 10, "alice's new session reached the second daemon"
        )
        freeze = api.client.post(
            f"/v1/admin/users/{alice.email}/freeze", json={"reason": "fraud review"}, headers=operator.headers
        )
        frozen_at = time.monotonic()
        freeze_stream.wait_for(went_on_past(frozen_at + CACHE_SECONDS, again), "the bound passed")
    logout_attempts, freeze_attempts = logout_stream.attempts, freeze_stream.attempts
    within_bound = after(logged_out, of(alice, logout_attempts))
    within_bound = [a for a in within_bound if a.started < logged_out + CACHE_SECONDS]
    print(
        f"\nwithin the {CACHE_SECONDS:.0f}s bound after the logout the second daemon still accepted "
        f"{sum(a.status == 201 for a in within_bound)} of {len(within_bound)} transfers of the session"
    )

    assert (logout_stream.crashes, freeze_stream.crashes, freeze.status_code) == ([], [], 200)
    assert (201, None) in answers(of(alice, logout_attempts)) and (201, None) in answers(
        of(again, freeze_attempts)
    )
    # The money endpoint asks no cache: its batch reads the session, so a transfer sent after
    # the logout returned is refused at once by the other daemon too (the cache bound is for
    # the other routes).
    assert answers(after(logged_out, of(alice, logout_attempts))) == {LOGGED_OUT}
    assert answers(after(frozen_at, of(again, freeze_attempts))) == {FROZEN}
    assert answers(of(carol, logout_attempts + freeze_attempts)) == {(201, None)}
    accepted = [a for a in of(alice, logout_attempts + freeze_attempts) if a.status == 201]
    database = Database(private_postgres_url)
    try:
        assert transfers_from(database, alice) == len(accepted)
    finally:
        database.dispose()
    audit = api.audit(operator)
    assert (audit["ok"], audit["violations"]) == (True, [])
