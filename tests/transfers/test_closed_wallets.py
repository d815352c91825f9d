"""A wallet being closed while money moves: never credited (or debited) once closed.

On Postgres a transfer resolves its wallets, then waits for their row locks; the
wallet may be closed by whoever held the lock. These tests force that interleaving:
a second connection holds the wallet's row lock, the request starts and queues on
it, the second connection closes the wallet and commits.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from tests.support.api import Account, Api
from tests.transfers.helpers import InThread, holding_wallet_lock, wait_for_lock_waiters

# Row locks are a Postgres matter: SQLite takes the whole database's write lock up front.
pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

CLOSE_WALLET = "UPDATE wallets SET closed_at = now() WHERE id = %s"


def open_wallet(client: TestClient, account: Account, currency: str = "USD") -> str:
    response = client.post("/v1/wallets", json={"currency": currency}, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def wallet_row(db: Database, wallet_id: str) -> tuple[int, bool]:
    """(balance, closed) of one wallet, open or closed."""
    with db.engine.connect() as connection:
        balance, closed_at = connection.execute(
            text("SELECT balance, closed_at FROM wallets WHERE id = :id"), {"id": wallet_id}
        ).one()
    return int(balance), closed_at is not None


def close_under_the_lock(postgres_url: str, wallet_id: str, locker: psycopg.Connection) -> None:
    """Once the request queues on the lock, the lock holder closes the wallet and commits."""
    wait_for_lock_waiters(postgres_url, 1)
    locker.execute(CLOSE_WALLET, (wallet_id,))
    locker.commit()


def transfer_to_wallet(client: TestClient, sender: Account, wallet_id: str, amount: int) -> InThread:
    body = {"amount": amount, "currency": "USD", "to_wallet_id": wallet_id}
    headers = {**sender.headers, "Idempotency-Key": str(uuid.uuid4())}
    return InThread(lambda: client.post("/v1/transfers", json=body, headers=headers))


def test_a_transfer_to_a_wallet_closed_while_it_waited_for_the_lock_is_refused_and_credits_nothing(
    client: TestClient,
    db: Database,
    postgres_url: str,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
) -> None:
    api.deposit(admin, alice.email, 1_000)
    bob_wallet = open_wallet(client, bob)

    with holding_wallet_lock(postgres_url, bob_wallet) as locker:
        sending = transfer_to_wallet(client, alice, bob_wallet, 250)
        close_under_the_lock(postgres_url, bob_wallet, locker)
    response = sending.result()

    assert (response.status_code, response.json()["code"]) == (404, "recipient_not_found"), response.text
    assert wallet_row(db, bob_wallet) == (0, True)
    assert api.balance(alice) == 1_000
    assert api.audit(admin)["ok"] is True


def test_a_transfer_by_email_that_waited_for_a_wallet_being_closed_goes_to_the_recipients_open_wallet(
    client: TestClient,
    db: Database,
    postgres_url: str,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
) -> None:
    """As if the close had come first: an email address is paid into its owner's open
    wallet, opened for them if need be, never into the closed one."""
    api.deposit(admin, alice.email, 1_000)
    closing = open_wallet(client, bob)

    with holding_wallet_lock(postgres_url, closing) as locker:
        sending = InThread(lambda: api.transfer(alice, bob.email, 250))
        close_under_the_lock(postgres_url, closing, locker)
    response = sending.result()

    assert response.status_code == 201, response.text
    reopened = response.json()["recipient"]["wallet_id"]
    assert reopened != closing
    assert wallet_row(db, closing) == (0, True)
    listed = client.get("/v1/wallets", headers=bob.headers).json()["items"]
    assert [(w["id"], w["balance"]) for w in listed] == [(reopened, 250)]
    assert api.audit(admin)["ok"] is True


def test_an_operator_deposit_that_waited_for_a_wallet_being_closed_never_lands_in_it(
    client: TestClient, db: Database, postgres_url: str, api: Api, admin: Account, bob: Account
) -> None:
    closing = open_wallet(client, bob)

    with holding_wallet_lock(postgres_url, closing) as locker:
        depositing = InThread(lambda: api.deposit(admin, bob.email, 400))
        close_under_the_lock(postgres_url, closing, locker)
    deposit = depositing.result()

    assert deposit["recipient"]["wallet_id"] != closing
    assert wallet_row(db, closing) == (0, True)
    assert api.balance(bob) == 400
    assert api.audit(admin)["ok"] is True


def test_closing_decides_on_the_wallet_as_it_stands_under_the_lock(
    client: TestClient, db: Database, postgres_url: str, alice: Account
) -> None:
    """Money that reached the wallet while the close waited for its lock keeps it open."""
    wallet = open_wallet(client, alice)

    with holding_wallet_lock(postgres_url, wallet) as locker:
        closing = InThread(lambda: client.delete("/v1/wallets/USD", headers=alice.headers))
        wait_for_lock_waiters(postgres_url, 1)
        # Stands for a transfer that held the lock and credited the wallet.
        locker.execute("UPDATE wallets SET balance = 300 WHERE id = %s", (wallet,))
        locker.commit()
    response = closing.result()

    assert (response.status_code, response.json()["code"]) == (409, "wallet_not_empty"), response.text
    assert wallet_row(db, wallet) == (300, False)


def test_a_wallet_closed_while_a_second_close_waited_is_not_closed_again(
    client: TestClient, db: Database, postgres_url: str, alice: Account
) -> None:
    wallet = open_wallet(client, alice)

    with holding_wallet_lock(postgres_url, wallet) as locker:
        closing = InThread(lambda: client.delete("/v1/wallets/USD", headers=alice.headers))
        close_under_the_lock(postgres_url, wallet, locker)
    response = closing.result()

    assert (response.status_code, response.json()["code"]) == (404, "wallet_not_found"), response.text
    assert wallet_row(db, wallet) == (0, True)


def test_a_transfer_that_may_not_rerun_after_a_stale_read_answers_503_and_the_same_key_then_settles_it(
    client: TestClient,
    db: Database,
    settings: Settings,
    postgres_url: str,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
) -> None:
    """With no reruns allowed, a wallet closed under the lock cannot be re-resolved: the
    request answers 503 try_again (nothing written, resend it) rather than 500."""
    api.deposit(admin, alice.email, 1_000)
    bob_wallet = open_wallet(client, bob)
    settings.transfer_max_retries = 0
    body = {"amount": 250, "currency": "USD", "to_wallet_id": bob_wallet}
    headers = {**alice.headers, "Idempotency-Key": "stale-once"}

    with holding_wallet_lock(postgres_url, bob_wallet) as locker:
        sending = InThread(lambda: client.post("/v1/transfers", json=body, headers=headers))
        close_under_the_lock(postgres_url, bob_wallet, locker)
    busy = sending.result()
    settings.transfer_max_retries = 8
    again = client.post("/v1/transfers", json=body, headers=headers)

    assert (busy.status_code, busy.json()["code"], busy.headers["Retry-After"]) == (503, "try_again", "1")
    assert (again.status_code, again.json()["code"]) == (404, "recipient_not_found"), again.text
    assert wallet_row(db, bob_wallet) == (0, True)
    assert api.balance(alice) == 1_000
