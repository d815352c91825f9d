"""Which open transactions a batch waits for (Postgres row-lock modes).

The engine locks the users and wallets it moves money for FOR NO KEY UPDATE: exclusive
against every other writer of those rows (another batch, a freeze), but not against a
transaction that merely references them by foreign key (FOR KEY SHARE), as the in-process
notification handler does when it writes inbox entries, or a login writing a session.
Locking them FOR UPDATE made every batch queue behind those transactions.
"""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.support.api import Account, Api
from tests.transfers.helpers import InThread, psycopg_url, wait_for_lock_waiters

only_postgres = pytest.mark.parametrize("backend", ["postgres"], indirect=True)
FUNDING, AMOUNT = 10_000, 100


def _holding(postgres_url: str, statement: str, row_id: str) -> psycopg.Connection:
    connection = psycopg.connect(psycopg_url(postgres_url))
    connection.execute(statement, (row_id,))
    return connection


@only_postgres
@pytest.mark.parametrize("table", ["users", "wallets"])
def test_a_transfer_does_not_wait_for_a_transaction_that_only_references_its_rows(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, postgres_url: str, table: str
) -> None:
    api.deposit(admin, alice.email, FUNDING)
    wallet = client.get("/v1/wallets/USD", headers=alice.headers).json()["id"]
    row = alice.user_id if table == "users" else wallet
    # What a foreign-key check of an uncommitted inbox entry or entry row holds on the row.
    referencing = _holding(postgres_url, f"SELECT id FROM {table} WHERE id = %s FOR KEY SHARE", row)  # noqa: S608
    try:
        sent = InThread(lambda: api.transfer(alice, bob.email, AMOUNT))
        response = sent.result()  # waits (a generous bound) and fails if the transfer queued on the row
        assert response.status_code == 201, response.text
    finally:
        referencing.rollback()
        referencing.close()


@only_postgres
def test_a_transfer_still_waits_for_a_writer_of_its_owners_row(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, postgres_url: str
) -> None:
    """The control: a transaction about to change the user (a freeze) holds the batch back."""
    api.deposit(admin, alice.email, FUNDING)
    writer = _holding(postgres_url, "SELECT id FROM users WHERE id = %s FOR NO KEY UPDATE", alice.user_id)
    try:
        sent = InThread(lambda: api.transfer(alice, bob.email, AMOUNT))
        wait_for_lock_waiters(postgres_url, 1)
        assert not sent.done()
    finally:
        writer.rollback()
        writer.close()
    assert sent.result().status_code == 201
