"""Concurrent callers with one idempotency key whose movements land in different batches:
batches of two writers (two daemons on one database), and a first batch and the batch
queued behind it in one writer. Exactly one transfer exists, every caller with the same
request gets its outcome (one original, the rest replays), and a caller with the same
key and another request is told the key was reused.

On Postgres the interleaving is forced: a second connection holds the recipient's wallet
lock until each daemon's first batch waits on the database and the other callers wait
behind it. On SQLite (and again on Postgres) the callers are released together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.transfers.outcomes import Moved, MovementOutcome, Refused
from gopherpayd.transfers.writer import writer_for, writer_of
from tests.conftest import make_settings
from tests.support.api import Account, Api
from tests.transfers.helpers import (
    Fund,
    InThread,
    MakePrincipal,
    all_at_once,
    holding_wallet_lock,
    wait_for_lock_waiters,
    wait_until,
)
from tests.transfers.ledger import uid
from tests.transfers.test_engine import balance, count, send, wallet_id
from tests.transfers.test_unique_races import separate_daemon

only_postgres = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

OUTCOME_BOUND_SECONDS = 60.0
SAME_BODY_CALLERS = 4
"""Per daemon, behind its first caller."""
AMOUNT = 1_234


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, signup_max_per_address=10_000)


@pytest.fixture
def other_db(database_url: str) -> Iterator[Database]:
    """A second daemon's own database pool (and so its own writer) on the same database."""
    database = Database(database_url)
    yield database
    database.dispose()


def results(futures: list[Future[MovementOutcome]]) -> list[MovementOutcome]:
    return [future.result(OUTCOME_BOUND_SECONDS) for future in futures]


def transfer_ids(outcomes: list[MovementOutcome]) -> set[str]:
    return {uid(o.transfer.id) for o in outcomes if isinstance(o, Moved)}


def assert_one_original_and_replays(outcomes: list[MovementOutcome]) -> None:
    assert all(isinstance(o, Moved) for o in outcomes), outcomes
    assert len(transfer_ids(outcomes)) == 1
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * (len(outcomes) - 1)


def assert_key_reused(outcomes: list[MovementOutcome]) -> None:
    assert [(o.refusal.status, o.refusal.code) if isinstance(o, Refused) else o for o in outcomes] == [
        (409, "idempotency_key_reused")
    ] * len(outcomes)


# --- through the writers ----------------------------------------------------------------------


@only_postgres
def test_one_key_in_batches_of_two_writers_and_behind_them_moves_money_once(
    db: Database,
    other_db: Database,
    settings: Settings,
    postgres_url: str,
    fund: Fund,
    make_principal: MakePrincipal,
) -> None:
    alice, bob = make_principal("alice@example.com"), make_principal("bob@example.com")
    fund(alice, 10_000)
    fund(bob, 1)
    first_writer, second_writer = writer_of(db, settings), writer_of(other_db, settings)
    key = "one-key-two-writers"

    with holding_wallet_lock(postgres_url, str(wallet_id(db, bob))):
        firsts = [first_writer.submit(send(alice, bob.email, AMOUNT, key=key))]
        wait_for_lock_waiters(postgres_url, 1)
        firsts.append(second_writer.submit(send(alice, bob.email, AMOUNT, key=key)))
        wait_for_lock_waiters(postgres_url, 2)
        # Each writer's first batch is in the database now: these queue for the next one.
        behind = [
            writer.submit(send(alice, bob.email, AMOUNT, key=key))
            for writer in (first_writer, second_writer)
            for _ in range(SAME_BODY_CALLERS)
        ]
        other_request = [
            writer.submit(send(alice, bob.email, AMOUNT + 1, key=key))
            for writer in (first_writer, second_writer)
        ]
    same = results(firsts + behind)

    assert_one_original_and_replays(same)
    assert_key_reused(results(other_request))
    assert count(db, "transfers", "kind = 'transfer'") == 1
    assert count(db, "idempotency_keys", "key = :key", key=key) == 1
    assert (balance(db, alice), balance(db, bob)) == (10_000 - AMOUNT, 1 + AMOUNT)


def test_one_key_released_at_once_into_two_writers_moves_money_once(
    db: Database, other_db: Database, settings: Settings, fund: Fund, make_principal: MakePrincipal
) -> None:
    alice, bob = make_principal("alice@example.com"), make_principal("bob@example.com")
    fund(alice, 10_000)
    writers = [writer_of(db, settings), writer_of(other_db, settings)]
    rounds = 3
    callers = 8

    for round_number in range(rounds):
        key = f"released-{round_number}"
        same = all_at_once(
            callers,
            lambda slot, key=key: (
                writers[slot % 2]
                .submit(send(alice, bob.email, AMOUNT, key=key))
                .result(OUTCOME_BOUND_SECONDS)
            ),
        )
        reused = [w.submit(send(alice, bob.email, AMOUNT + 1, key=key)) for w in writers]

        assert_one_original_and_replays(same)
        assert_key_reused(results(reused))
    assert count(db, "transfers", "kind = 'transfer'") == rounds
    assert (balance(db, alice), balance(db, bob)) == (10_000 - rounds * AMOUNT, rounds * AMOUNT)


# --- over HTTP, two daemons -------------------------------------------------------------------


def post(client: TestClient, sender: Account, key: str, amount: int, to_email: str) -> httpx.Response:
    return client.post(
        "/v1/transfers",
        json={"amount": amount, "currency": "USD", "to_email": to_email},
        headers={**sender.headers, "Idempotency-Key": key},
    )


def assert_http_one_original_and_replays(responses: list[httpx.Response]) -> None:
    assert [r.status_code for r in responses] == [201] * len(responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sorted(r.headers.get("Idempotency-Replayed", "false") for r in responses) == ["false"] + [
        "true"
    ] * (len(responses) - 1)


def assert_http_key_reused(responses: list[httpx.Response]) -> None:
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(409, "idempotency_key_reused")] * len(
        responses
    )


@only_postgres
def test_one_key_queued_in_two_daemons_behind_a_held_lock_moves_money_once_over_http(
    client: TestClient,
    db: Database,
    settings: Settings,
    postgres_url: str,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
) -> None:
    api.deposit(admin, alice.email, 10_000)
    api.deposit(admin, bob.email, 1)
    bob_wallet = client.get("/v1/wallets/USD", headers=bob.headers).json()["id"]
    key = f"http-{uuid.uuid4()}"

    with ExitStack() as stack:
        other = stack.enter_context(separate_daemon(settings, postgres_url))
        other_writer = writer_for(other.app.state.context.db)  # type: ignore[attr-defined]
        with holding_wallet_lock(postgres_url, bob_wallet):
            firsts = [InThread(lambda: post(client, alice, key, AMOUNT, bob.email))]
            wait_for_lock_waiters(postgres_url, 1)
            firsts.append(InThread(lambda: post(other, alice, key, AMOUNT, bob.email)))
            wait_for_lock_waiters(postgres_url, 2)
            behind = [
                InThread(lambda c=c: post(c, alice, key, AMOUNT, bob.email))
                for c in (client, other)
                for _ in range(SAME_BODY_CALLERS)
            ]
            reused = [
                InThread(lambda c=c: post(c, alice, key, AMOUNT + 1, bob.email)) for c in (client, other)
            ]
            wait_until(
                lambda: (writer_for(db).pending, other_writer.pending) == (2 + SAME_BODY_CALLERS,) * 2,
                "every caller reached its daemon's writer",
            )
        responses = [t.result() for t in firsts + behind]
        assert_http_key_reused([t.result() for t in reused])

    assert_http_one_original_and_replays(responses)
    assert count(db, "transfers", "kind = 'transfer'") == 1
    assert (api.balance(alice), api.balance(bob)) == (10_000 - AMOUNT, 1 + AMOUNT)
    assert api.audit(admin)["ok"] is True


def test_one_key_released_at_once_into_two_daemons_moves_money_once_over_http(
    client: TestClient,
    db: Database,
    settings: Settings,
    database_url: str,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
) -> None:
    api.deposit(admin, alice.email, 10_000)
    rounds, callers = 3, 8
    with separate_daemon(settings, database_url) as other:
        clients = [client, other]
        for round_number in range(rounds):
            key = f"http-released-{round_number}"
            responses = all_at_once(
                callers, lambda slot, key=key: post(clients[slot % 2], alice, key, AMOUNT, bob.email)
            )
            reused = [post(c, alice, key, AMOUNT + 1, bob.email) for c in clients]

            assert_http_one_original_and_replays(responses)
            assert_http_key_reused(reused)
    assert count(db, "transfers", "kind = 'transfer'") == rounds
    assert (api.balance(alice), api.balance(bob)) == (10_000 - rounds * AMOUNT, rounds * AMOUNT)
    assert api.audit(admin)["ok"] is True
