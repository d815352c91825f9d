"""Races on a unique index answer like the same requests one after the other, never 500.

Two requests that both check "does it exist yet?" and both write it: the loser trips a
unique index once the winner commits. The unit of work then runs again (kit.db), and
its own check answers with the domain's refusal (`already_reversed`, `wallet_exists`,
the answer to a second signup). Each race runs on both backends with a barrier; on
Postgres it is also forced: a second transaction holds the conflicting row (or the
wallet's lock) until every request is queued behind it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.app import create_app
from gopherpayd.identity import service as identity_service
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.transfers.writer import writer_for
from gopherpayd.wallets import service as wallet_service
from tests.conftest import make_settings
from tests.support.api import DEFAULT_PASSWORD, Account, Api
from tests.transfers.helpers import (
    InThread,
    all_at_once,
    holding_wallet_lock,
    wait_for_lock_waiters,
    wait_until,
)

RACERS = 12
ROUNDS = 3

only_postgres = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Every racer signs up from the test client's one address: lift the per-address limit."""
    return make_settings(database_url, tmp_path, signup_max_per_address=10_000)


def answers(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    """How many responses came back with each (status, problem code)."""
    return Counter((r.status_code, r.json().get("code") if r.status_code >= 400 else None) for r in responses)


def count(db: Database, sql: str, **params: Any) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar_one())


def signup(client: TestClient, email: str) -> httpx.Response:
    return client.post(
        "/v1/auth/signup", json={"email": email, "full_name": "Racer", "password": DEFAULT_PASSWORD}
    )


def open_eur(client: TestClient, account: Account) -> httpx.Response:
    return client.post("/v1/wallets", json={"currency": "EUR"}, headers=account.headers)


def reverse(client: TestClient, admin: Account, transfer_id: str) -> httpx.Response:
    return client.post(
        f"/v1/admin/transfers/{transfer_id}/reverse",
        json={"reason": "duplicate charge"},
        headers={**admin.headers, "Idempotency-Key": str(uuid.uuid4())},
    )


# --- signups with one email -------------------------------------------------------------------


def test_simultaneous_signups_with_one_email_create_one_account_and_answer_the_rest_like_a_second_signup(
    client: TestClient, db: Database
) -> None:
    for round_number in range(ROUNDS):
        email = f"racer{round_number}@example.com"
        responses = all_at_once(RACERS, lambda _slot, email=email: signup(client, email))
        again = signup(client, email)

        assert 400 <= again.status_code < 500, again.text
        duplicate = (again.status_code, again.json()["code"])
        assert answers(responses) == Counter({(201, None): 1, duplicate: RACERS - 1})
        assert count(db, "SELECT COUNT(*) FROM users WHERE email = :email", email=email) == 1


@only_postgres
def test_signups_queued_behind_an_uncommitted_signup_for_their_email_answer_like_a_second_signup(
    client: TestClient, db: Database, settings: Settings, postgres_url: str
) -> None:
    email = "queued@example.com"
    with db.session() as first:
        identity_service.create_user(first, settings, email, "First", DEFAULT_PASSWORD)
        first.flush()  # the row is written, its unique key taken, nothing committed yet
        racing = [InThread(lambda: signup(client, email)) for _ in range(RACERS)]
        wait_for_lock_waiters(postgres_url, RACERS)
    responses = [thread.result() for thread in racing]
    again = signup(client, email)

    duplicate = (again.status_code, again.json()["code"])
    assert 400 <= duplicate[0] < 500, again.text
    assert answers(responses) == Counter({duplicate: RACERS})
    assert count(db, "SELECT COUNT(*) FROM users WHERE email = :email", email=email) == 1


# --- opening one wallet -----------------------------------------------------------------------


def test_simultaneous_opens_of_one_wallet_open_it_once_and_refuse_the_rest(
    client: TestClient, db: Database, alice: Account
) -> None:
    for _round in range(ROUNDS):
        responses = all_at_once(RACERS, lambda _slot: open_eur(client, alice))

        assert answers(responses) == Counter({(201, None): 1, (409, "wallet_exists"): RACERS - 1})
        opened = [r.json()["id"] for r in responses if r.status_code == 201]
        assert [w["id"] for w in client.get("/v1/wallets", headers=alice.headers).json()["items"]] == opened
        assert client.delete("/v1/wallets/EUR", headers=alice.headers).status_code == 200


@only_postgres
def test_opens_queued_behind_an_uncommitted_open_of_the_same_wallet_are_refused(
    client: TestClient, db: Database, postgres_url: str, alice: Account
) -> None:
    with db.session() as first:
        opened = wallet_service.open_wallet(first, uuid.UUID(alice.user_id), "EUR")
        racing = [InThread(lambda: open_eur(client, alice)) for _ in range(RACERS)]
        wait_for_lock_waiters(postgres_url, RACERS)
    responses = [thread.result() for thread in racing]

    assert answers(responses) == Counter({(409, "wallet_exists"): RACERS})
    assert [w["id"] for w in client.get("/v1/wallets", headers=alice.headers).json()["items"]] == [
        str(opened.id)
    ]


# --- reversing one transfer -------------------------------------------------------------------


def test_simultaneous_reversals_of_one_transfer_reverse_it_once_and_refuse_the_rest(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    for _round in range(ROUNDS):
        original = api.transfer(alice, bob.email, 100).json()["id"]

        responses = all_at_once(RACERS, lambda _slot, original=original: reverse(client, admin, original))

        assert answers(responses) == Counter({(201, None): 1, (409, "already_reversed"): RACERS - 1})
        assert (api.balance(alice), api.balance(bob)) == (1_000, 0)
    assert api.audit(admin)["ok"] is True


@only_postgres
def test_reversals_queued_on_the_wallet_lock_reverse_once_and_the_rest_are_told_already_reversed(
    settings: Settings, postgres_url: str, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    """All of them pass the "not reversed yet" check before any can lock the wallets.

    Each racer is a daemon of its own (an app with its own database pool and so its own
    writer): within one daemon the writer queues them, and only one batch would wait."""
    api.deposit(admin, alice.email, 1_000)
    original = api.transfer(alice, bob.email, 100).json()
    bob_wallet = original["recipient"]["wallet_id"]

    with ExitStack() as daemons:
        clients = [daemons.enter_context(separate_daemon(settings, postgres_url)) for _ in range(RACERS)]
        with holding_wallet_lock(postgres_url, bob_wallet):
            racing = [InThread(lambda c=c: reverse(c, admin, original["id"])) for c in clients]
            wait_for_lock_waiters(postgres_url, RACERS)
        responses = [thread.result() for thread in racing]

    assert answers(responses) == Counter({(201, None): 1, (409, "already_reversed"): RACERS - 1})
    assert (api.balance(alice), api.balance(bob)) == (1_000, 0)
    assert api.audit(admin)["ok"] is True


@only_postgres
def test_reversals_queued_in_one_daemons_writer_reverse_once_and_the_rest_are_told_already_reversed(
    client: TestClient,
    db: Database,
    postgres_url: str,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
) -> None:
    """Within one daemon one batch waits on the lock and the other reversals queue behind it
    in the writer; they are refused by the precheck once the first has committed."""
    api.deposit(admin, alice.email, 1_000)
    original = api.transfer(alice, bob.email, 100).json()
    bob_wallet = original["recipient"]["wallet_id"]

    with holding_wallet_lock(postgres_url, bob_wallet):
        racing = [InThread(lambda: reverse(client, admin, original["id"])) for _ in range(RACERS)]
        wait_for_lock_waiters(postgres_url, 1)
        wait_until(lambda: writer_for(db).pending == RACERS, "every reversal reached the writer")
    responses = [thread.result() for thread in racing]

    assert answers(responses) == Counter({(201, None): 1, (409, "already_reversed"): RACERS - 1})
    assert (api.balance(alice), api.balance(bob)) == (1_000, 0)
    assert api.audit(admin)["ok"] is True


@contextmanager
def separate_daemon(settings: Settings, postgres_url: str) -> Iterator[TestClient]:
    """Another daemon process on the same database, as far as the ledger can tell."""
    database = Database(postgres_url)
    try:
        with TestClient(create_app(settings, database), raise_server_exceptions=False) as other:
            yield other
    finally:
        database.dispose()
